"""Where a job's text goes past its memory bound (DESIGN §2): a file of the job's own, so
a job printing gigabytes keeps memory flat and still hands over every character.

The file is 0600 in a 0700 temporary folder (the user's output is theirs alone), written
unbuffered so that a full disk is seen at the write that meets it, and removed with the
folder when its record buffer is closed or collected, or when a receive that streamed it
is done with it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from typing import IO


class SpillFile:
    def __init__(self, owner: object, job_name: str) -> None:
        """A new spill file, removed when ``owner`` (its record buffer) is collected, if
        not before."""
        self.folder = tempfile.mkdtemp(prefix=f"ipyjobs-{job_name}-")  # 0700
        try:
            path = os.path.join(self.folder, "spill.txt")
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError:
            shutil.rmtree(self.folder, ignore_errors=True)  # nothing stays behind
            raise
        self.file: IO[bytes] = open(descriptor, "w+b", buffering=0)  # noqa: SIM115
        #: Where the next text goes.
        self.end = 0
        self._remove = weakref.finalize(owner, _remove_folder, self.file, self.folder)

    def append(self, data: bytes) -> int:
        """Write ``data`` at the end; its offset. An ``OSError`` (a full disk) leaves
        the file as it was."""
        start = self.end
        try:
            self.file.seek(start)
            written = 0
            while written < len(data):
                written += self.file.write(data[written:]) or 0
        except OSError:
            with contextlib.suppress(OSError):
                self.file.truncate(start)
            raise
        self.end = start + len(data)
        return start

    def read(self, offset: int, nbytes: int) -> bytes:
        return os.pread(self.file.fileno(), nbytes, offset)

    def pieces(self, offset: int, nbytes: int, piece: int) -> Iterator[bytes]:
        """``nbytes`` from ``offset``, read ``piece`` bytes at a time."""
        end = offset + nbytes
        while offset < end:
            data = self.read(offset, min(piece, end - offset))
            if not data:
                return
            offset += len(data)
            yield data

    def clear(self) -> None:
        """Everything in it was received: start again from its beginning."""
        self.file.truncate(0)
        self.end = 0

    def remove(self) -> None:
        self._remove()


def _remove_folder(spill: IO[bytes], folder: str) -> None:
    spill.close()
    shutil.rmtree(folder, ignore_errors=True)
