"""The job store on its own: a private folder, rows, one holder per job across real
processes, removal and pruning."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import time

import pytest

from ipyjobs.backends.store import (
    JobStore,
    StoredJob,
    StoreError,
    is_alive,
    process_start_time,
    this_process,
)


def row(instance_id: str = "a", id: int = 1, parent: str | None = None, **values) -> StoredJob:
    base = dict(
        instance_id=instance_id,
        id=id,
        name=f"Job{id}",
        job_type="ProcessJob",
        state="Running",
        command="train()",
        location="localhost",
        scope="/work/notebook.ipynb",
        parent=parent,
    )
    return StoredJob(**{**base, **values})


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_store_is_the_users_alone(tmp_path):
    previous = os.umask(0o022)
    try:
        store = JobStore(str(tmp_path / "store"))
        store.add(row())
    finally:
        os.umask(previous)
    assert mode(store.folder) == mode(store.spools) == 0o700
    assert mode(store.path) == 0o600
    assert mode(store.new_spool("a")) == 0o700
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    for name in os.listdir(store.folder):
        if name.startswith("jobs.sqlite3"):
            assert mode(os.path.join(store.folder, name)) == 0o600, name


def test_a_folder_open_to_others_or_not_the_users_is_refused(tmp_path):
    open_folder = tmp_path / "open"
    open_folder.mkdir(mode=0o777)
    open_folder.chmod(0o777)
    with pytest.raises(StoreError, match="open to other users"):
        JobStore(str(open_folder))
    if os.getuid() == 0:  # root can make a folder that belongs to someone else
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 65534, 65534)
        with pytest.raises(StoreError, match="another user"):
            JobStore(str(theirs))
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot be made"):
        JobStore(str(blocked / "store"))


def test_rows_children_and_the_highest_id(tmp_path):
    store = JobStore(str(tmp_path))
    assert store.highest_id() == 0
    store.add(row("p", 7))
    store.add(row("c", 8, parent="p", name="Job8", pid=os.getpid()))
    store.add(row("q", 9, scope="elsewhere"))
    assert store.highest_id() == 9
    assert [r.id for r in store.jobs("/work/notebook.ipynb")] == [7, 8]
    assert [r.id for r in store.jobs()] == [7, 8, 9]
    store.update("c", state="Completed", received=3, end_time=1.0)
    child = store.get("c")
    assert (child.state, child.received, child.owner) == ("Completed", 3, os.getuid())
    with pytest.raises(ValueError, match="no such column"):
        store.update("c", colour="red")


def test_a_process_is_its_pid_and_start_time():
    start = process_start_time(os.getpid())
    assert start is not None and is_alive(os.getpid(), start)
    assert not is_alive(os.getpid(), start + 1)  # the same pid, another process
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    assert not is_alive(int(done.stdout), 0)


HOLD = """
import sys, time
from ipyjobs.backends.store import JobStore
store = JobStore(sys.argv[1])
print(store.claim("p"), flush=True)
time.sleep(60)
"""


def test_one_live_process_holds_a_job_and_a_dead_ones_hold_is_taken(tmp_path):
    store = JobStore(str(tmp_path))
    store.add(row("p", 1))
    store.add(row("c", 2, parent="p"))
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert other.stdout.readline().strip() == "True"
        assert not store.claim("p")  # another live kernel holds it
        assert store.get("c").holder == store.get("p").holder != this_process()
    finally:
        other.kill()
        other.wait()
    assert store.claim("p")  # its holder died: the job is free
    assert store.get("c").holder == this_process()
    store.release("p")
    assert store.get("p").holder is None


def test_remove_deletes_rows_and_spool_and_prune_only_old_finished_jobs(tmp_path):
    store = JobStore(str(tmp_path))
    spool = store.new_spool("p")
    (tmp_path / "spools" / "p" / "records").write_text("x")
    now = time.time()
    store.add(row("p", 1, state="Completed", end_time=now - 3 * 86400, spool=spool))
    store.add(row("c", 2, parent="p", state="Completed", spool=spool))
    store.add(row("r", 3, state="Running"))
    store.add(row("n", 4, state="Failed", end_time=now - 3600))
    assert store.prune(0) == []  # 0: keep them all
    assert store.prune(2, now=now) == ["p"]
    assert [r.instance_id for r in store.jobs()] == ["r", "n"]
    assert not os.path.exists(spool)
    store.remove("n")
    assert [r.instance_id for r in store.jobs()] == ["r"]
