"""What process and engine jobs share: the job as seen from the process that runs it, and
how its records travel back to the kernel.

Inside the other process a ``StandInJob`` takes the Job's place, so ipyjobs' own capture,
``write_output`` and ``check_stop`` work unchanged there; its inbox is drained into
*items* that cross the wire:

    str                          stdout text
    (Stream.STDERR, str)         stderr text
    (stream, pickled, text)      any other record, its value pickled with cloudpickle

On the kernel's side ``to_record`` turns each item back into what a ``RecordBuffer``'s
inbox takes.

Work travels as a ``PackedWork``: the pickle, and the source lines of the code it holds
that the other process could not read (a notebook cell, a code job), each with the name
its frames show in the kernel (``Cell In[5]``). Code objects are pickled with ``marshal``,
which keeps their file name: cloudpickle 3.1.3 renames every file to ``<dynamic-code>``,
which left a failing job's traceback with no file and no line.
"""

from __future__ import annotations

import io
import linecache
import marshal
import os
import types
import warnings
from collections import ChainMap
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import cloudpickle

from ..execution.work import CallWork, CodeWork, Snapshot, Work, frame_names
from ..model.errors import JobArgumentError
from ..model.records import Record, Stream, checked_write
from . import renamed

if TYPE_CHECKING:
    from ..model.job import Job
    from . import StartRequest


#: For each file the shipped code came from: the name its frames show in the kernel
#: (``Cell In[5]``, or None to keep the file's own) and its lines.
Sources = dict[str, tuple[str | None, list[str]]]


@dataclass(frozen=True)
class PackedWork:
    """Work pickled for another process, with what its tracebacks need there."""

    payload: bytes
    sources: Sources = field(default_factory=dict)


class _WorkPickler(cloudpickle.Pickler):
    """cloudpickle, but code objects go as ``marshal`` data (their file name kept), and
    the files they came from are noted."""

    def __init__(self, file: Any) -> None:
        self.code_files: set[str] = set()
        # Read by pickle's own __init__, so it is set first.
        own: dict[type, Callable[..., Any]] = {types.CodeType: self._reduce_code}
        inherited: MutableMapping[type, Callable[..., Any]] = cloudpickle.Pickler.dispatch_table
        self.dispatch_table = ChainMap(own, inherited)
        super().__init__(file)

    def _reduce_code(self, code: types.CodeType) -> tuple[Any, ...]:
        self.code_files.add(code.co_filename)
        return marshal.loads, (marshal.dumps(code),)


def dumps(value: Any) -> tuple[bytes, set[str]]:
    """``value`` pickled, and the files of the code objects it carries by value."""
    buffer = io.BytesIO()
    pickler = _WorkPickler(buffer)
    pickler.dump(value)
    return buffer.getvalue(), pickler.code_files


def pack_work(
    request: StartRequest,
    destination: str,
    frame_name: Callable[[str], str | None] = lambda filename: None,
) -> PackedWork:
    """The request's work pickled for another process; code jobs take a copy of the names
    they read (or the ``using`` names), leaving out with a warning what cannot be copied.
    ``frame_name`` gives the name the kernel shows for a file (IPython's cell names)."""
    work = request.work
    if isinstance(work, CodeWork):
        work = CodeWork(
            work.body,
            work.last_expression,
            _copy_names(work, request.using, destination),
            work.python,
            work.names,
        )
    try:
        payload, files = dumps(work)
    except Exception as error:
        target = work.function if isinstance(work, CallWork) else "the code"
        raise JobArgumentError(
            f"{destination} cannot send {target!r} to where it runs: {error}"
        ) from None
    sources: Sources = {}
    for filename in sorted(files):
        name = frame_name(filename)
        if name is None and os.path.isfile(filename):
            continue  # a real file: the other process reads it as tracebacks do
        lines = linecache.getlines(filename)
        if lines or name is not None:
            sources[filename] = (name, lines)
    return PackedWork(payload, sources)


def unpack_work(packed: PackedWork) -> Any:
    """The work, in the process that runs it, with its sources where tracebacks look."""
    for filename, (name, lines) in packed.sources.items():
        if lines:
            size = sum(map(len, lines))
            linecache.cache[filename] = (size, None, lines, filename)
        if name is not None:
            frame_names[filename] = name
    return cloudpickle.loads(packed.payload)


def _copy_names(work: CodeWork, using: list[str], destination: str) -> Snapshot:
    namespace = work.namespace()
    missing = [name for name in using if name not in namespace]
    if missing:
        raise JobArgumentError(f"--using names what does not exist: {', '.join(missing)}")
    values: dict[str, Any] = {}
    for name in using or sorted(work.names):
        if name not in namespace or name.startswith("__"):
            continue
        try:
            cloudpickle.dumps(namespace[name])
        except Exception as error:
            warnings.warn(
                f"ipyjobs: {name!r} cannot be copied to {destination} and is left "
                f"out ({type(error).__name__}: {error})",
                RuntimeWarning,
                stacklevel=4,
            )
            continue
        values[name] = namespace[name]
    return Snapshot(values)


class _StandInRecords:
    """The stand-in's record buffer: the same inbox protocol as ``RecordBuffer``."""

    def __init__(self) -> None:
        self.pending: list[Any] = []
        #: What the job's writes call (see ``RecordBuffer.inbox``); a child that sends as
        #: it writes puts its own function here.
        self.inbox: Callable[[Any], None] = self.pending.append

    def add(self, stream: Any, value: Any, text: str | None = None) -> None:
        self.inbox((stream, value, text))

    def collect(self) -> None:
        """Nothing to do here: whoever ships the inbox drains it."""

    def start_stdout(self) -> Callable[[str], int]:
        """What ``print`` calls here: a Python write, since ``inbox`` may send as it
        writes (see ``backends.process_child``)."""
        return self.write_text

    def write_text(self, text: str) -> int:
        return checked_write(self.inbox, text)  # ``inbox`` as it is now: it may change

    def flush_stdout(self) -> None:
        """Nothing is gathered here."""

    def end_stdout(self) -> None:
        """Nothing is gathered here."""


class StandInJob:
    """Stands in for the Job in the process that runs its work."""

    #: No backend runs it here (so ``time.sleep`` in it is Python's own: a signal from
    #: the kernel's side interrupts it).
    runner = None

    def __init__(self, name: str, location: str) -> None:
        self.name = name
        self.location = location
        self.records = _StandInRecords()
        self.stop_requested = False
        self.checks_stop = False
        self.progress = None
        self.last_output = None
        self.has_output = False
        self.outcome: tuple[Any, BaseException | None] | None = None
        #: Where this job's ``input()`` is answered: given the prompt and whether it is
        #: secret, it returns the answer and whether to echo it, or None for a stop.
        #: None where no one can answer (an engine, a detached job).
        self.asker: Callable[[str, bool], tuple[str, bool] | None] | None = None
        self._asking = ("", False)

    def block(self, prompt: str, secret: bool = False) -> bool:
        if self.asker is None:
            raise EOFError(f"{self.name} cannot ask for input here; pass what it needs instead")
        self._asking = (prompt, secret)
        return True

    def wait_for_answer(self) -> tuple[str, bool] | None:
        assert self.asker is not None
        return self.asker(*self._asking)

    def write_output(self, value: Any) -> None:
        self.records.add(Stream.OUTPUT, value)

    def set_state(self, new: Any, reason: BaseException | None = None, **_: Any) -> bool:
        """The kernel owns the state: here the final one is only noted, then sent."""
        if new.value != "Running":
            self.outcome = (new, reason)
        return True


def _pickled(stream: Stream, value: Any, text: str | None) -> tuple[Any, ...]:
    try:
        return (stream, cloudpickle.dumps(value), text)
    except Exception as error:
        kind = type(value).__name__
        message = f"ipyjobs: a {stream.value} value of type {kind} cannot be sent back: {error}"
        return (Stream.ERROR, cloudpickle.dumps(TypeError(message)), message + "\n")


def drain(job: StandInJob) -> list[Any]:
    """Take what the stand-in's inbox holds now, as items ready to send."""
    pending = job.records.pending
    count = len(pending)
    items = pending[:count]
    del pending[:count]
    return [item if isinstance(item, str) or len(item) == 2 else _pickled(*item) for item in items]


def pickled_reason(reason: BaseException | None) -> bytes | None:
    """The exception that failed the work, pickled (or its repr, if it cannot be)."""
    if reason is None:
        return None
    try:
        return cloudpickle.dumps(reason)
    except Exception:
        return cloudpickle.dumps(RuntimeError(repr(reason)))


def to_record(job: Job, item: Any) -> Any:
    """An item from the other process, as the kernel's ``job`` inbox takes it."""
    if isinstance(item, str) or len(item) == 2:
        return item  # stdout text, or (STDERR, text)
    stream, pickled, text = item
    value = renamed.loads(pickled)
    if stream is Stream.OUTPUT:
        job.last_output, job.has_output = value, True
    elif stream is Stream.PROGRESS:
        job.progress = value
    return Record(stream, value, job, job.location, datetime.now(), text)


class RemoteWork(Work):
    """The work of a job on another machine's interpreter (an engine, a Dask worker),
    unpacked where it runs, so that a failure to unpickle it (a module missing there) or
    to enter its folder fails the job with a traceback like any other. A code job runs
    in ``namespace(values)``, given the names it read in the kernel."""

    def __init__(
        self,
        packed: PackedWork,
        cwd: str | None,
        kernel_cwd: str,
        each: Any,
        namespace: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> None:
        self.packed = packed
        self.cwd = cwd
        self.kernel_cwd = kernel_cwd
        self.each = each  # a fan-out child's (name, pickled item)
        self.namespace = namespace

    def run(self, job: Any) -> None:
        here = os.getcwd()  # (a fan-out's children usually run where the last one ran)
        if self.cwd is not None:
            if self.cwd != here:
                os.chdir(self.cwd)
        elif self.kernel_cwd != here and os.path.isdir(self.kernel_cwd):
            os.chdir(self.kernel_cwd)  # the kernel's folder, when this host has it
        work = unpack_work(self.packed)
        if isinstance(work, CodeWork) and isinstance(work.namespace, Snapshot):
            namespace = self.namespace(work.namespace.values)
            work.namespace = lambda: namespace
        if self.each is not None:
            name, item = self.each
            work = work.for_item(cloudpickle.loads(item), name)
        work.run(job)
