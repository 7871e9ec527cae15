"""A detached job's spool: the messages its process produces, appended to a file as they
are produced, so that they outlive both the process and the kernel reading them.

Each entry is a 4-byte big-endian length and a pickle of one message (the same tuples a
process job sends over its pipe: ``("running", cpu)``, ``("items", [...])``, ``("done",
state, reason)``). The file is only appended to and each entry written with one
``os.write``, so a crash of the writer loses at most the entry it was writing: a reader
stops before a torn last entry and takes it up once it is whole. A reader keeps the
offset it has read to; the store keeps the offset a user has received to.

The machine's limits (DESIGN §14):

- A write that fails (a full disk) takes back what it wrote of its entry, so the spool
  stays whole, and the writer writes no more.
- How the job ended then goes to its *end*: a small file reserved (written with zeros)
  when the spool is made, so that overwriting it needs no new space. Whoever writes it
  first wins (``write_end``); a reader takes it as the job's "done" only when the spool
  has none.
- A reader opens its file once and keeps it open: a spool deleted under a running job
  is still read to its end (``deleted`` says so), and one cut short under it is noted
  (``truncated_at``) and read again from its start, where its writer appends next.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
from typing import Any

from . import renamed

_LENGTH = struct.Struct(">I")
#: Bytes reserved for a job's end: a pickled reason, cut short if it is longer.
END_SIZE = 4096


def _entry(message: tuple[Any, ...]) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


class SpoolWriter:
    """Appends messages to the spool file at ``path`` (made 0600)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        #: The error that stopped the writer (a full disk), or None.
        self.failed: OSError | None = None

    def write(self, message: tuple[Any, ...]) -> None:
        if self.failed is not None:
            raise self.failed
        entry = _entry(message)
        start = os.lseek(self._fd, 0, os.SEEK_END)  # where this entry begins (O_APPEND)
        written = 0
        try:
            while written < len(entry):  # one write in practice; a short one is finished
                written += os.write(self._fd, entry[written:])
        except OSError as error:
            if written:  # no torn entry stays: the spool ends where it did
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, start)
            self.failed = error
            raise

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class SpoolReader:
    """Reads the messages appended since it last read, from ``offset`` on, through the
    file it opened first (kept open: see the module docstring)."""

    def __init__(self, path: str, offset: int = 0) -> None:
        self.path = path
        self.offset = offset
        self._fd = -1
        #: Where the spool was cut short under the reader, once it was; else None.
        self.truncated_at: int | None = None
        #: The last bytes read, as the file had them: if they change, it was cut (and
        #: written again past where it was read to).
        self._mark = b""

    def open(self) -> bool:
        """Open the spool now, if it exists (a reader opens it at its first read)."""
        if self._fd < 0:
            with contextlib.suppress(FileNotFoundError):
                self._fd = os.open(self.path, os.O_RDONLY)
        return self._fd >= 0

    @property
    def deleted(self) -> bool:
        """The spool this reader holds open was deleted (it is still read)."""
        return self._fd >= 0 and os.fstat(self._fd).st_nlink == 0

    def read(self) -> list[tuple[Any, ...]]:
        """The whole messages written since the last read (a torn last one waits)."""
        if not self.open():
            return []
        size = os.fstat(self._fd).st_size
        if size < self.offset or not self._still_marked():  # cut short: what was past its
            # new end is gone, and what its writer appended since begins where the cut
            # was (at the start, as a cut by hand or by a log rotation leaves it): it is
            # read from there again
            self.truncated_at, self.offset, self._mark = size, 0, b""
        data = os.pread(self._fd, size - self.offset, self.offset)
        messages = []
        position = 0
        while position + _LENGTH.size <= len(data):
            (length,) = _LENGTH.unpack_from(data, position)
            end = position + _LENGTH.size + length
            if end > len(data):
                break  # still being written, or torn by a crash
            messages.append(renamed.loads(data[position + _LENGTH.size : end]))
            position = end
        if position:
            self._mark = data[max(0, position - 8) : position]
        self.offset += position
        return messages

    def _still_marked(self) -> bool:
        mark = self._mark
        return not mark or os.pread(self._fd, len(mark), self.offset - len(mark)) == mark

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # (at exit, os may be gone already)
            self.close()


def reserve_end(path: str) -> None:
    """Make the job's end file, its space taken now (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        written = 0
        while written < END_SIZE:
            written += os.write(fd, bytes(END_SIZE - written))
    finally:
        os.close(fd)


def open_end(path: str) -> int:
    """The end file, opened for reading and writing (-1 if there is none: a spool of an
    earlier version)."""
    try:
        return os.open(path, os.O_RDWR)
    except OSError:
        return -1


def write_end(fd: int, message: tuple[Any, ...]) -> bool:
    """Write how the job ended into its reserved end, unless something is there already;
    True if this one is there now."""
    entry = _entry(message)
    if fd < 0 or len(entry) > END_SIZE or read_end(fd) is not None:
        return False
    os.pwrite(fd, entry, 0)
    return True


def read_end(fd: int) -> tuple[Any, ...] | None:
    """How the job ended, as its end file says; None while it says nothing."""
    if fd < 0:
        return None
    data = os.pread(fd, END_SIZE, 0)
    if len(data) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack_from(data)
    if length == 0 or _LENGTH.size + length > len(data):
        return None
    message: tuple[Any, ...] = renamed.loads(data[_LENGTH.size : _LENGTH.size + length])
    return message
