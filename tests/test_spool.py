"""A detached job's spool: appended messages are read in order, across readers that
start where another stopped, and a torn last entry is left until it is whole."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from ipyjobs.backends.spool import SpoolReader, SpoolWriter


def test_messages_are_read_in_order_and_only_once(tmp_path):
    path = str(tmp_path / "spool")
    writer = SpoolWriter(path)
    reader = SpoolReader(path)
    assert reader.read() == []
    writer.write(("running",))
    writer.write(("items", ["a\n", ("stderr", "b\n")]))
    assert reader.read() == [("running",), ("items", ["a\n", ("stderr", "b\n")])]
    assert reader.read() == []
    writer.write(("done", "Completed", None))
    assert reader.read() == [("done", "Completed", None)]
    # A reader of another kernel takes up where the first one's offset was kept.
    again = SpoolReader(path, reader.offset)
    assert again.read() == []
    writer.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_torn_entry_waits_and_earlier_ones_are_kept(tmp_path):
    path = str(tmp_path / "spool")
    writer = SpoolWriter(path)
    writer.write(("items", ["whole\n"]))
    writer.write(("items", ["torn\n"]))
    writer.close()
    size = os.path.getsize(path)
    with open(path, "r+b") as spool:  # the writer died in the middle of its last entry
        spool.truncate(size - 3)
    reader = SpoolReader(path)
    assert reader.read() == [("items", ["whole\n"])]
    assert reader.read() == []


WRITER = """
import sys
from ipyjobs.backends.spool import SpoolWriter
writer = SpoolWriter(sys.argv[1])
for i in range(2000):
    writer.write(("items", [f"{i}\\n"]))
"""


def test_a_reader_follows_a_writer_in_another_process(tmp_path):
    path = str(tmp_path / "spool")
    process = subprocess.Popen([sys.executable, "-c", WRITER, path])
    reader = SpoolReader(path)
    seen: list[str] = []
    while process.poll() is None:  # read while it writes: entries may be half written
        seen += [item for message in reader.read() for item in message[1]]
    seen += [item for message in reader.read() for item in message[1]]
    assert process.returncode == 0
    assert seen == [f"{i}\n" for i in range(2000)]


def test_a_write_that_fails_midway_is_taken_back_and_the_writer_stops(tmp_path, monkeypatch):
    import errno

    import pytest

    from ipyjobs.backends import spool

    path = str(tmp_path / "spool")
    writer = SpoolWriter(path)
    writer.write(("running",))
    calls = []
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:  # a disk that fills mid-entry
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spool.os, "write", half_then_full)
    with pytest.raises(OSError):
        writer.write(("items", ["x" * 1000]))
    monkeypatch.undo()
    assert SpoolReader(path).read() == [("running",)]  # whole, and nothing torn after it
    with pytest.raises(OSError):
        writer.write(("done", "Completed", None))  # a failed writer writes no more
    assert SpoolReader(path).read() == [("running",)]


def test_a_jobs_end_is_written_once_in_the_room_kept_for_it(tmp_path):
    from ipyjobs.backends.spool import END_SIZE, open_end, read_end, reserve_end, write_end

    path = str(tmp_path / "end")
    reserve_end(path)
    assert os.path.getsize(path) == END_SIZE and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    end = open_end(path)
    try:
        assert read_end(end) is None
        assert write_end(end, ("done", "Failed", b"why"))
        assert not write_end(end, ("done", "Stopped", None))  # the first one stays
        assert read_end(end) == ("done", "Failed", b"why")
        assert os.path.getsize(path) == END_SIZE  # written in place: no new space
    finally:
        os.close(end)
    assert open_end(str(tmp_path / "none")) == -1  # a spool of an earlier version


def test_a_reader_reads_a_deleted_spool_to_its_end_and_a_cut_one_from_its_start(tmp_path):
    path = str(tmp_path / "spool")
    writer = SpoolWriter(path)
    reader = SpoolReader(path)
    writer.write(("running",))
    assert reader.read() == [("running",)]
    os.remove(path)
    writer.write(("done", "Completed", None))
    assert reader.deleted and reader.read() == [("done", "Completed", None)]
    cut = SpoolReader(str(tmp_path / "cut"))
    other = SpoolWriter(cut.path)
    other.write(("running",))
    assert cut.read() == [("running",)]
    os.truncate(cut.path, 0)
    other.write(("done", "Completed", None))  # appended where the cut left the file
    assert cut.read() == [("done", "Completed", None)] and cut.truncated_at is not None
