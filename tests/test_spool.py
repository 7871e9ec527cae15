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
