"""A detached job's spool: the messages its process produces, appended to a file as they
are produced, so that they outlive both the process and the kernel reading them.

Each entry is a 4-byte big-endian length and a pickle of one message (the same tuples a
process job sends over its pipe: ``("running", cpu)``, ``("items", [...])``, ``("done",
state, reason)``). The file is only appended to and each entry written with one
``os.write``, so a crash of the writer loses at most the entry it was writing: a reader
stops before a torn last entry and takes it up once it is whole. A reader keeps the
offset it has read to; the store keeps the offset a user has received to.
"""

from __future__ import annotations

import os
import pickle
import struct
from typing import Any

from . import renamed

_LENGTH = struct.Struct(">I")


class SpoolWriter:
    """Appends messages to the spool file at ``path`` (made 0600)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write(self, message: tuple[Any, ...]) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        entry = _LENGTH.pack(len(data)) + data
        written = 0
        while written < len(entry):  # one write in practice; a short one is finished
            written += os.write(self._fd, entry[written:])

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class SpoolReader:
    """Reads the messages appended since it last read, from ``offset`` on."""

    def __init__(self, path: str, offset: int = 0) -> None:
        self.path = path
        self.offset = offset

    def read(self) -> list[tuple[Any, ...]]:
        """The whole messages written since the last read (a torn last one waits)."""
        try:
            with open(self.path, "rb") as spool:
                spool.seek(self.offset)
                data = spool.read()
        except FileNotFoundError:
            return []
        messages = []
        position = 0
        while position + _LENGTH.size <= len(data):
            (length,) = _LENGTH.unpack_from(data, position)
            end = position + _LENGTH.size + length
            if end > len(data):
                break  # still being written, or torn by a crash
            messages.append(renamed.loads(data[position + _LENGTH.size : end]))
            position = end
        self.offset += position
        return messages
