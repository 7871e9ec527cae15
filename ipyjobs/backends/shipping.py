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
"""

from __future__ import annotations

import linecache
import warnings
from datetime import datetime
from typing import TYPE_CHECKING, Any

import cloudpickle

from ..errors import JobArgumentError
from ..execution import CallWork, CodeWork, Snapshot
from ..records import Record, Stream

if TYPE_CHECKING:
    from ..execution import Work
    from ..job import Job
    from . import StartRequest


def pack_work(request: StartRequest, destination: str) -> bytes:
    """The request's work pickled for another process; code jobs take a copy of the names
    they read (or the ``using`` names), leaving out with a warning what cannot be copied."""
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
        return cloudpickle.dumps(work)
    except Exception as error:
        target = work.function if isinstance(work, CallWork) else "the code"
        raise JobArgumentError(
            f"{destination} cannot send {target!r} to where it runs: {error}"
        ) from None


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

    def add(self, stream: Any, value: Any, text: str | None = None) -> None:
        self.pending.append((stream, value, text))

    def collect(self) -> None:
        """Nothing to do here: whoever ships the inbox drains it."""


class StandInJob:
    """Stands in for the Job in the process that runs its work."""

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

    def write_output(self, value: Any) -> None:
        self.records.add(Stream.OUTPUT, value)

    def set_state(self, new: Any, reason: BaseException | None = None, **_: Any) -> bool:
        """The kernel owns the state: here the final one is only noted, then sent."""
        if new.value != "Running":
            self.outcome = (new, reason)
        return True


def show_source_in_tracebacks(work: Work) -> None:
    """Let tracebacks of code jobs show their lines here, as they do in the kernel."""
    python = getattr(work, "python", "")
    if python:
        filename = work.body.co_filename  # type: ignore[attr-defined]
        linecache.cache[filename] = (len(python), None, python.splitlines(True), filename)


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
    value = cloudpickle.loads(pickled)
    if stream is Stream.OUTPUT:
        job.last_output, job.has_output = value, True
    elif stream is Stream.PROGRESS:
        job.progress = value
    return Record(stream, value, job, job.location, datetime.now(), text)
