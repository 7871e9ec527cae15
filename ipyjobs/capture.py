"""Per-job output capture: each write goes to the records of the job whose code made it.

One ``StreamRouter`` sits on ``sys.stdout`` and one on ``sys.stderr``. A write looks up a
``ContextVar`` set in the job's thread: inside a job it appends to that job's lock-free
inbox (see ``records``); anywhere else it goes to the stream the router wraps. ``display()``
and ``warnings.showwarning`` are routed the same way.

Other code swaps ``sys.stdout`` under us (pytest per test, terminal IPython while its
prompt shows), so ``install()`` is idempotent and is called again each time a job starts:
it re-wraps whatever stream is current. A write at the file-descriptor level
(``os.write(1, ...)``, C ``printf``, a subprocess inheriting fd 1) never passes through
Python and cannot be routed by thread; it goes where fd 1 goes.
"""

from __future__ import annotations

import contextvars
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .records import Stream

if TYPE_CHECKING:
    from .job import Job

#: The running job's inbox append, or None outside a job. Read on every write.
_inbox: contextvars.ContextVar[Callable[[Any], None] | None] = contextvars.ContextVar(
    "ipyjobs_inbox", default=None
)
_current_job: contextvars.ContextVar[Job | None] = contextvars.ContextVar(
    "ipyjobs_job", default=None
)


def current_job() -> Job | None:
    """The (child) job whose code is running here, or None outside a job."""
    return _current_job.get()


@contextmanager
def job_context(job: Job) -> Iterator[None]:
    """Route this context's output to ``job`` while the block runs."""
    inbox_token = _inbox.set(job.records.pending.append)
    job_token = _current_job.set(job)
    try:
        yield
    finally:
        _current_job.reset(job_token)
        _inbox.reset(inbox_token)


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


class StreamRouter:
    """Stands in for ``sys.stdout`` and routes writes by job (``StderrRouter``: stderr)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    @property
    def wrapped(self) -> Any:
        return self._stream

    def write(self, text: str, _inbox_get: Any = _inbox.get) -> int:
        inbox = _inbox_get()
        if inbox is None:
            return self._stream.write(text)
        if type(text) is not str and not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        inbox(text)  # a bare str is stdout text: the cheapest thing to append
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if _inbox.get() is None:
            self._stream.flush()

    def isatty(self) -> bool:
        return _inbox.get() is None and self._stream.isatty()

    def __getattr__(self, name: str) -> Any:
        # Everything else is the wrapped stream's: ipykernel calls sys.stdout.set_parent()
        # at each execute, and only if it exists (FACTS.md).
        return getattr(self._stream, name)


class StderrRouter(StreamRouter):
    def write(self, text: str, _inbox_get: Any = _inbox.get) -> int:
        inbox = _inbox_get()
        if inbox is None:
            return self._stream.write(text)
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        inbox((Stream.STDERR, text))
        return len(text)


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
    job = _current_job.get()
    if job is None:
        _routing.showwarning(message, category, filename, lineno, file, line)
        return
    text = warnings.formatwarning(message, category, filename, lineno, line)
    if not isinstance(message, Warning):
        message = category(message)
    job.records.add(Stream.WARNING, message, text)


def _route_display(original: Callable[..., Any]) -> Callable[..., Any]:
    def publish(data: Any, metadata: Any = None, *args: Any, **kwargs: Any) -> Any:
        job = _current_job.get()
        if job is None:
            return original(data, metadata, *args, **kwargs)
        job.records.add(Stream.DISPLAY, {"data": dict(data), "metadata": dict(metadata or {})})
        return None

    publish.ipyjobs_original = original  # type: ignore[attr-defined]
    return publish


def install(display_pub: Any = None) -> None:
    """Put the routers in place (again, if something swapped them out since)."""
    with _routing.lock:
        if not isinstance(sys.stdout, StreamRouter):
            sys.stdout = StreamRouter(sys.stdout)
        if not isinstance(sys.stderr, StderrRouter):
            sys.stderr = StderrRouter(sys.stderr)
        if warnings.showwarning is not _route_warning:
            _routing.showwarning = warnings.showwarning
            warnings.showwarning = _route_warning
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
            while isinstance(stream, StreamRouter):
                stream = stream.wrapped
            if isinstance(getattr(sys, name), StreamRouter):
                setattr(sys, name, stream)
        if warnings.showwarning is _route_warning:
            warnings.showwarning = _routing.showwarning
        pub = _routing.display_pub
        if pub is not None and hasattr(pub.publish, "ipyjobs_original"):
            if "publish" in vars(pub):
                del pub.publish  # the class's method shows through again
            _routing.display_pub = None


def is_installed() -> bool:
    return isinstance(sys.stdout, StreamRouter) and isinstance(sys.stderr, StreamRouter)
