"""A store and spools written by ipyjobs 0.1.0 before its layout in layers (DESIGN §11)
still read: from a kernel and from the shell, values, ipyjobs' own classes, warnings and
tracebacks included (tests/fixtures/make_store_0_1_0.py wrote them)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import ipyjobs
from ipyjobs import JobState, JobStateError, Progress, Stream

FIXTURE = Path(__file__).parent / "fixtures" / "store-0.1.0"
WRITTEN_AT = "/tmp/ipyjobs-store-0.1.0"
SCOPE = "ipyjobs-fixture-scope"


@pytest.fixture
def old_store(tmp_path, monkeypatch) -> str:
    """A copy of the old store, its spool paths pointed at the copy, 0700/0600 as the
    store wants (git keeps neither)."""
    folder = tmp_path / "store"
    shutil.copytree(FIXTURE, folder)
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    with sqlite3.connect(folder / "jobs.sqlite3") as db:
        db.execute("UPDATE jobs SET spool = replace(spool, ?, ?)", (WRITTEN_AT, str(folder)))
    db.close()
    monkeypatch.setenv("JPY_SESSION_NAME", SCOPE)
    return str(folder)


def test_a_kernel_reads_an_old_store_with_its_values_and_traceback(manager, old_store):
    manager.store_dir = old_store
    manager.attach_detached()
    kinds, timed = ipyjobs.get_job("kinds")[0], ipyjobs.get_job("timed")[0]
    assert (kinds.id, kinds.state, timed.id, timed.state) == (1, "Failed", 3, "Stopped")
    assert str(kinds.reason) == "the end of many_kinds"
    records = kinds.receive(keep=True, raw=True)
    by_stream: dict[Stream, list] = {}
    for record in records:
        by_stream.setdefault(record.stream, []).append(record.value)
    assert "".join(by_stream[Stream.STDOUT]) == "out 1\nout 2\n"
    assert "".join(by_stream[Stream.STDERR]) == "err 1\n"
    answer, stream, error = by_stream[Stream.OUTPUT]
    assert answer == {"answer": 42, "state": JobState.COMPLETED}
    assert answer["state"] is JobState.COMPLETED and stream is Stream.STDOUT
    assert type(error) is JobStateError and str(error) == "an error as a value"
    assert by_stream[Stream.PROGRESS] == [Progress(50, "half", "")]
    assert str(by_stream[Stream.WARNING][0]) == "careful"
    (failure,) = by_stream[Stream.ERROR]
    assert isinstance(failure, ValueError)
    text = next(r.text for r in records if r.stream is Stream.ERROR)
    assert 'raise ValueError("the end of many_kinds")' in text
    assert kinds.has_more_data  # kept


def test_the_shell_receives_an_old_store_without_a_traceback_of_its_own(old_store):
    script = Path(sys.executable).parent / "ipyjobs"
    done = subprocess.run(
        [str(script), "--store", old_store, "receive", "--keep", "kinds"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "JPY_SESSION_NAME": SCOPE},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "out 1",
        "out 2",
        "{'answer': 42, 'state': <JobState.COMPLETED: 'Completed'>}",
        "<Stream.STDOUT: 'stdout'>",
        "JobStateError('an error as a value')",
    ]
    assert done.stderr.startswith("err 1\n")
    assert done.stderr.rstrip().endswith("ValueError: the end of many_kinds")
