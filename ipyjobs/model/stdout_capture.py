"""A thread job's stdout, written at the speed of C (docs/decisions.md: "print in a
thread job runs no Python code"): an ``io.TextIOWrapper`` gathers what ``print`` writes
and hands it to the job's ``RecordBuffer`` inbox in chunks."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from .records import TEXT_ENCODING

if TYPE_CHECKING:
    from .record_buffer import RecordBuffer

#: Bytes of stdout text a job's ``print`` gathers in C before handing them over.
CHUNK = 32768
#: Chunks the inbox holds before the printing thread collects them itself: the collector
#: thread may not get the GIL from a thread printing as fast as it can (a flood held
#: 30-70 MB of text when only the collector drained it), so this bounds what waits
#: (16 x 32 kB: a flood's memory grew about 2 MB).
CHUNK_BACKLOG = 16


class _Chunks:
    """The binary "buffer" under a job's ``io.TextIOWrapper``: what it hands over goes to
    the capture (only ``write`` is used; the rest is the protocol the wrapper checks)."""

    closed = False
    name = "<job stdout>"  # what the wrapper's ``name`` gives

    def __init__(self, write: Callable[[bytes], int]) -> None:
        self.write = write

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        pass

    def read(self, size: int = -1, /) -> bytes:
        raise io.UnsupportedOperation("a job's stdout is written, not read")

    def truncate(self, size: int, /) -> int:
        raise io.UnsupportedOperation("a job's stdout is not truncated")

    def fileno(self) -> int:
        raise io.UnsupportedOperation("a job's stdout has no file descriptor")

    def isatty(self) -> bool:
        return False

    def close(self) -> None:
        """The wrapper, when it is collected, flushes and closes its buffer: nothing to
        free here (without this, Python 3.13 printed the AttributeError to stderr)."""


class StdoutCapture:
    """A thread job's stdout, written at the speed of C (docs/decisions.md: "print in a
    thread job runs no Python code").

    ``print`` in the job calls ``wrapper.write`` (``capture`` routes ``sys.stdout.write``
    to it without a Python call): an ``io.TextIOWrapper`` that checks the type and
    returns the count as any stream's write does, and gathers encoded text until
    ``CHUNK`` bytes, which it hands to ``_hand_over``. ``drain`` hands over what it holds
    (the collector, every tick; anything recorded in the job, first, so the order holds);
    both take ``lock``, so chunks reach the inbox in the order they were written."""

    def __init__(self, records: RecordBuffer) -> None:
        self.records = records
        self.lock = threading.RLock()
        self.wrapper = io.TextIOWrapper(
            _Chunks(self._hand_over),
            encoding=TEXT_ENCODING[0],
            errors=TEXT_ENCODING[1],
            newline="\n",
        )
        self.wrapper._CHUNK_SIZE = CHUNK  # type: ignore[attr-defined]

    def _hand_over(self, data: bytes) -> int:
        """The wrapper's chunks (from the printing thread, or a ``drain``)."""
        pending = self.records.pending
        with self.lock:
            pending.append(data)
        if len(pending) >= CHUNK_BACKLOG:
            self.records.collect_inbox()
        return len(data)

    def drain(self) -> None:
        """Hand over the text the wrapper holds."""
        with self.lock:
            self.wrapper.flush()

    def end(self) -> None:
        """The job's code is over. What still writes here (a thread the job started, a
        ``write`` someone kept) goes to the inbox at once, write by write, so nothing
        waits in a wrapper no one drains any more."""
        self.wrapper._CHUNK_SIZE = 1  # type: ignore[attr-defined]
        self.drain()
