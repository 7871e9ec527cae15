"""Per-job output capture: each write goes to the records of the job whose code made it.

One ``StreamRouter`` sits on ``sys.stdout`` and one on ``sys.stderr``. A write looks up a
``ContextVar`` set in the job's thread (``current.inbox``; stdout's own, below): inside a
job it goes to that job's lock-free inbox (see ``record_buffer``); anywhere else it goes
to the stream the router wraps. ``display()``, ``warnings.showwarning`` and
``time.sleep`` (``sleeping``) are routed the same way. ``sys.stdout.write`` itself is
looked up in C: the router's ``write`` is a property whose getter is the ContextVar's own
``get``, which gives the job's C-level write (``stdout_capture.StdoutCapture``), or,
outside a job, the router, whose ``__call__`` writes to the wrapped stream. A ``print``
in a thread job so runs no Python code at all (0.95-1.10x ``redirect_stdout``; a Python
``write`` made it 0.66-0.69x). Process and remote jobs' stand-ins keep a Python write
(``shipping``).

Other code swaps ``sys.stdout`` under us (pytest per test, terminal IPython while its
prompt shows), so ``install()`` is idempotent and is called again each time a job starts:
it re-wraps whatever stream is current. A write at the file-descriptor level
(``os.write(1, ...)``, C ``printf``, a subprocess inheriting fd 1) never passes through
Python and cannot be routed by thread; it goes where fd 1 goes.
"""

from __future__ import annotations

import builtins
import contextvars
import functools
import getpass
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

from ..model.records import Stream, require_text
from . import current, sleeping
from .asking import ask
from .current import current_job

if TYPE_CHECKING:
    from ..model.job import Job

_inbox = current.inbox  # read on every write to stderr
#: Inside a job: what its stdout writes call (unset outside one: see the module docstring).
_stdout_write: contextvars.ContextVar[Callable[[str], int]] = contextvars.ContextVar(
    "ipyjobs_stdout_write"
)

#: Items a job's inbox holds before a write to stderr collects them in the writing
#: thread. The collector thread drains inboxes every few milliseconds, but a thread
#: writing as fast as it can may hold the GIL for most of that: without a bound the text
#: waiting in memory grew to 20-80 MB past the spill bound. (Stdout has its own bound:
#: ``stdout_capture.CHUNK_BACKLOG``.)
BACKLOG = 10_000


def _first_print(records: Any, text: str) -> int:
    """A job's first write to stdout in this context: from now on ``print`` here calls
    the job's own write directly (no wrapper is made for a job that never prints)."""
    write = records.start_stdout()
    _stdout_write.set(write)
    return write(text)


class job_context:
    """Route this context's output to ``job`` while the block runs (a class, not a
    generator: it is entered once per job, and a generator's machinery cost a thread
    fan-out 4 µs a child)."""

    __slots__ = ("_inbox_token", "_job", "_stdout_token")

    def __init__(self, job: Job) -> None:
        self._job = job

    def __enter__(self) -> None:
        records = self._job.records
        self._stdout_token = _stdout_write.set(functools.partial(_first_print, records))
        self._inbox_token = _inbox.set((records.inbox, records.pending, records, self._job))

    def __exit__(self, *exc_info: object) -> None:
        _inbox.reset(self._inbox_token)
        _stdout_write.reset(self._stdout_token)
        self._job.records.end_stdout()


_job_argv: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "ipyjobs_argv", default=None
)


class ScopedArgv(list[str]):
    """Stands in for ``sys.argv``: a script job running in a thread reads its own
    arguments (``job_argv``), any other code the process's. What scripts do with argv
    (index, slice, iterate, ``len``, argparse) is routed; it is a list, so the rest
    works on the process's arguments."""

    def _current(self) -> list[str]:
        scoped = _job_argv.get()
        return scoped if scoped is not None else list.__getitem__(self, slice(None))

    def __getitem__(self, index: Any) -> Any:
        return self._current()[index]

    def __setitem__(self, index: Any, value: Any) -> None:
        scoped = _job_argv.get()  # runpy sets argv[0] to the script's path, then back
        if scoped is not None:
            scoped[index] = value
        else:
            list.__setitem__(self, index, value)

    def __len__(self) -> int:
        return len(self._current())

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __contains__(self, value: object) -> bool:
        return value in self._current()

    def __eq__(self, other: object) -> bool:
        return self._current() == other

    __hash__ = None

    def __repr__(self) -> str:
        return repr(self._current())


@contextmanager
def job_argv(argv: list[str]) -> Iterator[None]:
    """``sys.argv`` is ``argv`` for this context's code while the block runs."""
    if not isinstance(sys.argv, ScopedArgv):
        sys.argv = ScopedArgv(sys.argv)
    token = _job_argv.set(list(argv))
    try:
        yield
    finally:
        _job_argv.reset(token)


def start_thread(target: Callable[..., Any], *args: Any, **kwargs: Any) -> threading.Thread:
    """Start a daemon thread that inherits the calling job's capture.

    Threads started with plain ``threading.Thread`` do not: their output goes to the
    kernel's stream as if no job existed.
    """
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(target, *args), kwargs=kwargs)
    thread.daemon = True
    thread.start()
    return thread


def _stderr_writer(stream_write: Callable[[str], Any]) -> Callable[[str], int]:
    def write(text: str, _inbox_get: Any = _inbox.get, _stderr: Stream = Stream.STDERR) -> int:
        inbox = _inbox_get()
        if inbox is None:
            return stream_write(text)
        require_text(text)
        inbox[0]((_stderr, text))
        if len(inbox[1]) >= BACKLOG:
            inbox[2].collect()
        return len(text)

    return write


class Router:
    """Stands in for ``sys.stdout`` (``StreamRouter``) or ``sys.stderr``
    (``StderrRouter``) and routes each write to the running job's records, or else to
    the stream it wraps.

    Use ``StreamRouter.wrap(stream)``: it makes a subclass that forwards every other
    attribute of the wrapped stream (ipykernel calls ``sys.stdout.set_parent()`` at each
    execute, and only if it exists). Forwarding with properties rather than
    ``__getattr__`` keeps the lookup of ``write`` that ``print`` does on the fast path.
    """

    write: Any  # what each kind of router routes by

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    @classmethod
    def wrap(cls, stream: Any) -> Router:
        # dir() is slow; what it lists follows from the type and the instance's own names.
        key = (cls, type(stream), frozenset(getattr(stream, "__dict__", ())))
        router_class = _router_classes.get(key)
        if router_class is None:
            own = set(dir(cls)) | {"write", "_stream"}
            names = {n for n in dir(stream) if not n.startswith("__")} - own
            forwarding = {name: _forwarded(name) for name in names}
            router_class = type(cls.__name__, (cls,), forwarding)
            _router_classes[key] = router_class
        return router_class(stream)

    @property
    def wrapped(self) -> Any:
        return self._stream

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        inbox = _inbox.get()
        if inbox is None:
            self._stream.flush()
        else:
            inbox[2].flush_stdout()  # what print gathered goes to the inbox now

    def isatty(self) -> bool:
        return _inbox.get() is None and self._stream.isatty()

    def close(self) -> None:
        """Inside a job, closing changes nothing: the stream this router wraps is the
        kernel's, shared by every cell, and the job's own output is its records."""
        if _inbox.get() is None:
            self._stream.close()


class StreamRouter(Router):
    """``sys.stdout``: its ``write`` is looked up in C (see the module docstring)."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._patched: Callable[[str], int] | None = None
        self._in_patch = threading.local()

    def __call__(self, text: str) -> int:
        """``sys.stdout.write`` outside a job: the wrapped stream's, or what patched it."""
        patched = self._patched
        if patched is None or getattr(self._in_patch, "active", False):
            return self._stream.write(text)
        self._in_patch.active = True  # the patch calls the write it replaced: this one
        try:
            return patched(text)
        finally:
            self._in_patch.active = False

    def _patch(self, write: Callable[[str], int]) -> None:
        """``sys.stdout.write = tee`` (IPython 9 tees each cell's output into its
        history that way) patches what is written outside jobs; a job's writes stay
        its own. Setting back what was read (this router) takes the patch out."""
        self._patched = None if write is self else write

    #: The job's write, or this router outside a job (see the module docstring).
    write: Any = property(_stdout_write.get, _patch)


class StderrRouter(Router):
    """``sys.stderr``: its ``write`` is a Python closure in the instance dict (stderr is
    not a hot path); a patch simply replaces it."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.write = _stderr_writer(stream.write)


_router_classes: dict[tuple[Any, ...], type[Router]] = {}


def _forwarded(name: str) -> property:
    def get(self: Router) -> Any:
        return getattr(self._stream, name)

    def set(self: Router, value: Any) -> None:
        setattr(self._stream, name, value)

    return property(get, set, doc=f"The wrapped stream's ``{name}``.")


class _Routing:
    """What ``install`` put in place, so ``uninstall`` can take exactly that back."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.users = 0
        self.showwarning: Any = None
        self.display_pub: Any = None


_routing = _Routing()


def _route_warning(
    message: Any,
    category: Any,
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    job = current_job()
    if job is None:
        _routing.showwarning(message, category, filename, lineno, file, line)
        return
    text = warnings.formatwarning(message, category, filename, lineno, line)
    if not isinstance(message, Warning):
        message = category(message)
    job.records.add(Stream.WARNING, message, text)


def _route_display(original: Callable[..., Any]) -> Callable[..., Any]:
    def publish(data: Any, metadata: Any = None, *args: Any, **kwargs: Any) -> Any:
        job = current_job()
        if job is None:
            return original(data, metadata, *args, **kwargs)
        job.records.add(Stream.DISPLAY, {"data": dict(data), "metadata": dict(metadata or {})})
        return None

    publish.ipyjobs_original = original  # type: ignore[attr-defined]
    return publish


def route_input(original: Callable[..., Any], *, secret: bool = False) -> Callable[..., Any]:
    """``original`` (``input``, ``getpass.getpass``, or the kernel's own versions of them)
    outside a job; inside one, the job asks (see ``asking``)."""

    def routed(prompt: Any = None, *args: Any, **kwargs: Any) -> str:
        job = current_job()
        if job is None:
            return original(*(() if prompt is None else (prompt,)), *args, **kwargs)
        return ask(job, "Password: " if secret and prompt is None else prompt, secret=secret)

    routed.ipyjobs_original = original  # type: ignore[attr-defined]
    routed.__name__ = getattr(original, "__name__", "input")
    routed.__doc__ = getattr(original, "__doc__", None)
    return routed


class Routed(Protocol):
    """A function ``install`` put in place of another, which it keeps."""

    ipyjobs_original: Callable[..., Any]

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...


def is_routed(function: object) -> TypeGuard[Routed]:
    return hasattr(function, "ipyjobs_original")


def prepare() -> None:
    """Make the router classes for the streams now in place, so a later ``install`` over
    them takes microseconds instead of a ``dir()`` of each (a forkserver calls this once
    for all the children it forks)."""
    StreamRouter.wrap(sys.stdout)
    StderrRouter.wrap(sys.stderr)


def install(display_pub: Any = None) -> None:
    """Put the routers in place (again, if something swapped them out since)."""
    if (
        display_pub is None
        and isinstance(sys.stdout, StreamRouter)  # cheap checks first: this runs at
        and isinstance(sys.stderr, StderrRouter)  # every job start
        and warnings.showwarning is _route_warning
        and hasattr(builtins.input, "ipyjobs_original")
        and hasattr(getpass.getpass, "ipyjobs_original")
        and sleeping.is_installed()
    ):
        return
    with _routing.lock:
        if not isinstance(sys.stdout, StreamRouter):
            sys.stdout = StreamRouter.wrap(sys.stdout)
        if not isinstance(sys.stderr, StderrRouter):
            sys.stderr = StderrRouter.wrap(sys.stderr)
        if warnings.showwarning is not _route_warning:
            _routing.showwarning = warnings.showwarning
            warnings.showwarning = _route_warning
        if not is_routed(builtins.input):
            builtins.input = route_input(builtins.input)
        if not is_routed(getpass.getpass):
            getpass.getpass = route_input(getpass.getpass, secret=True)
        sleeping.install()
        if display_pub is not None and not hasattr(display_pub.publish, "ipyjobs_original"):
            display_pub.publish = _route_display(display_pub.publish)
            _routing.display_pub = display_pub


def acquire(display_pub: Any = None) -> None:
    """``install`` and count a user (the extension, a JobManager) of the routing."""
    with _routing.lock:
        _routing.users += 1
        install(display_pub)


def release() -> None:
    """Drop one user; the last one takes every router out."""
    with _routing.lock:
        _routing.users = max(0, _routing.users - 1)
        if _routing.users == 0:
            uninstall()


def uninstall() -> None:
    """Take out what ``install`` put in, leaving anything installed after us in place."""
    with _routing.lock:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            while isinstance(stream, Router):
                stream = stream.wrapped
            if isinstance(getattr(sys, name), Router):
                setattr(sys, name, stream)
        if warnings.showwarning is _route_warning:
            warnings.showwarning = _routing.showwarning
        sleeping.uninstall()
        if isinstance(sys.argv, ScopedArgv):
            sys.argv = list.__getitem__(sys.argv, slice(None))
        if is_routed(builtins.input):
            builtins.input = builtins.input.ipyjobs_original
        if is_routed(getpass.getpass):
            getpass.getpass = getpass.getpass.ipyjobs_original
        pub = _routing.display_pub
        if pub is not None and hasattr(pub.publish, "ipyjobs_original"):
            if "publish" in vars(pub):
                del pub.publish  # the class's method shows through again
            _routing.display_pub = None


def is_installed() -> bool:
    return isinstance(sys.stdout, StreamRouter) and isinstance(sys.stderr, StderrRouter)
