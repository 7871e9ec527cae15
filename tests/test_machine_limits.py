"""The machine's limits (DESIGN §14): a full disk, a store another process holds, a
damaged or read-only store, a spool deleted or cut short under a running job. Each is one
clear line, no job is half made, nothing written is lost and no thread dies printing a
traceback. The full disks are real: a 2 MB tmpfs, mounted as root."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import psutil
import pytest

import ipyjobs
from ipyjobs import JobState, StoreError, Stream
from tests import process_jobs
from tests.conftest import eventually
from tests.test_detached import kill_stored_jobs

SCRIPT = Path(sys.executable).parent / "ipyjobs"


@pytest.fixture
def small_disk(tmp_path):
    """A real 2 MB file system (tmpfs), unmounted after the test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (make test runs as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)], check=True
    )
    try:
        yield mount
    finally:
        kill_stored_jobs(mount / "store")
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of ``disk`` (the filler file is returned, to free it)."""
    filler = disk / f"filler-{len(list(disk.glob('filler-*')))}"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as error:
            assert error.errno == errno.ENOSPC
    return filler


@pytest.fixture
def thread_errors(monkeypatch):
    """What reached ``threading.excepthook``: a thread that died with a traceback."""
    seen: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args.exc_value))
    return seen


def cli(store: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), "--store", str(store), "--busy-timeout", "0.5", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def job_processes() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_a_detached_job_that_fills_the_disk_ends_failed_and_keeps_what_it_wrote(
    manager, small_disk, tmp_path, thread_errors
):
    store = small_disk / "store"
    manager.store_dir = str(store)
    gate = str(tmp_path / "gate")
    job = ipyjobs.start_job(process_jobs.print_then_flood, 10, gate, detach=True, name="flood")
    eventually(lambda: job.child_jobs[0].records.tail.count("\n") == 10, 30)
    fill(small_disk)
    open(gate, "w").close()
    assert ipyjobs.wait_job(job, timeout=30) == [job]
    assert job.state is JobState.FAILED
    assert str(job.reason) == "[Errno 28] No space left on device while writing its output"
    records = job.receive(keep=True, raw=True)
    text = "".join(r.value for r in records if r.stream is Stream.STDOUT)
    assert text.startswith("".join(f"line {i}\n" for i in range(10)))
    (error,) = [r for r in records if r.stream is Stream.ERROR]
    assert error.text == ("OSError: [Errno 28] No space left on device while writing its output\n")
    manager.shutdown()
    assert thread_errors == []
    fill(small_disk)  # whatever the end of the job gave back: the store is full now
    shell = cli(store, "receive", "--keep", "flood")
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.startswith("".join(f"line {i}\n" for i in range(10)))
    assert shell.stderr.splitlines()[-1] == (
        "OSError: [Errno 28] No space left on device while writing its output"
    )
    assert "Traceback" not in shell.stderr
    taking = cli(store, "receive", "flood")  # it would remove: refused, in one line
    assert taking.returncode == 1 and len(taking.stderr.splitlines()) == 1, taking.stderr
    assert taking.stderr.startswith("ipyjobs: cannot receive (and so remove) the output of")


def test_a_start_on_a_full_disk_is_one_store_error_and_leaves_no_job(manager, small_disk):
    store = small_disk / "store"
    manager.store_dir = str(store)
    manager.job_store()
    fill(small_disk)
    before = job_processes()
    with pytest.raises(StoreError) as refused:
        ipyjobs.start_job(process_jobs.pid, detach=True)
    assert str(refused.value) == (
        f"the job store {store}/jobs.sqlite3 cannot be written: its disk is full; free "
        "space there, or use a store on another disk (c.JobManager.store_dir, ipyjobs "
        "--store)"
    )
    assert ipyjobs.get_job() == [] and os.listdir(store / "spools") == []
    assert job_processes() <= before


def test_a_start_on_a_read_only_store_is_one_store_error(manager, small_disk):
    store = small_disk / "store"
    manager.store_dir = str(store)
    ipyjobs.start_job(process_jobs.pid, detach=True, name="before").wait(30)
    manager.shutdown()
    # Once the job's supervisor, which writes its end, has let go of its files:
    remount = ["mount", "-o", "remount,ro", str(small_disk)]
    eventually(lambda: subprocess.run(remount, stderr=subprocess.DEVNULL).returncode == 0, 15)
    fresh = ipyjobs.JobManager(store_dir=str(store))
    try:
        (listed,) = fresh.attach_detached()  # what it holds is still there to read
        assert listed.name == "before" and listed.state is JobState.COMPLETED
        assert fresh.receive_job(listed, keep=True) == [listed.child_jobs[0].result()]
        with pytest.raises(StoreError, match="cannot be written: it is read-only"):
            fresh.start_job(process_jobs.pid, detach=True)
        assert [job.name for job in fresh.get_job()] == ["before"]
    finally:
        fresh.shutdown()


LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("UPDATE jobs SET name = name")
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_store_another_process_holds_is_refused_after_busy_timeout(manager, tmp_path):
    store = tmp_path / "store"
    manager.store_dir = str(store)
    manager.busy_timeout = 0.5
    done = ipyjobs.start_job(process_jobs.pid, detach=True, name="done")
    done.wait(30)
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(store / "jobs.sqlite3")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout.readline() == "locked\n"
        with pytest.raises(StoreError) as refused:
            ipyjobs.start_job(process_jobs.pid, detach=True)
        assert str(refused.value).startswith(
            f"the job store {store}/jobs.sqlite3 is held by another process, which keeps "
            "a write open (waited 0.5 s): end that process"
        )
        assert ipyjobs.get_job() == [done] and len(os.listdir(store / "spools")) == 1
        manager.shutdown()
        shell = cli(store, "remove", "done")
        assert shell.returncode == 1 and len(shell.stderr.splitlines()) == 1, shell.stderr
        assert shell.stderr.startswith(f"ipyjobs: cannot remove done: the job store {store}")
        assert "is held by another process" in shell.stderr
    finally:
        locker.stdin.close()
        locker.wait(10)


def test_the_shell_says_one_line_for_a_damaged_store(tmp_path):
    store = tmp_path / "store"
    store.mkdir(mode=0o700)
    (store / "jobs.sqlite3").write_bytes(b"not a database, but the user's notes " * 100)
    for args in (("list",), ("receive", "--keep", "1"), ("stop", "1")):
        shell = cli(store, *args)
        assert shell.returncode == 1, shell
        assert shell.stderr == (
            f"ipyjobs: the job store {store}/jobs.sqlite3 is damaged (file is not a "
            "database): move it aside and a new one is made (its jobs' spools stay in "
            "spools/)\n"
        )


@pytest.mark.parametrize("damage", ["deleted", "cut short"])
def test_a_spool_damaged_under_a_running_job_does_not_change_how_it_ends(
    manager, tmp_path, damage, thread_errors
):
    manager.store_dir = str(tmp_path / "store")
    gate = str(tmp_path / "gate")
    job = ipyjobs.start_job(process_jobs.print_then_wait, 3, gate, detach=True)
    child = job.child_jobs[0]
    eventually(lambda: child.records.tail.count("\n") == 3, 30)
    (spool,) = (tmp_path / "store" / "spools").iterdir()
    if damage == "deleted":
        shutil.rmtree(spool)
    else:
        os.truncate(spool / "records", 0)
    open(gate, "w").close()
    assert job.result(30) == "finished"
    assert job.state is JobState.COMPLETED
    (warning,) = [r for r in job.receive(keep=True, raw=True) if r.stream is Stream.WARNING]
    assert f"{child.name}'s spool {spool}/records was {damage}" in str(warning.value)
    assert thread_errors == []


def test_a_thread_jobs_text_stays_in_memory_when_it_cannot_spill(manager, small_disk, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(small_disk))
    manager.text_memory_limit = 1000
    fill(small_disk)
    job = ipyjobs.start_job(lambda: print("".join(f"{i:04d}\n" for i in range(2000)), end=""))
    job.wait(30)
    records = job.receive(raw=True)
    text = "".join(r.value for r in records if r.stream is Stream.STDOUT)
    assert text == "".join(f"{i:04d}\n" for i in range(2000))
    (warning,) = [r for r in records if r.stream is Stream.WARNING]
    assert "cannot be spilled to disk" in str(warning.value) and "No space left" in str(
        warning.value
    )
    assert job.state is JobState.COMPLETED


def test_a_process_job_whose_output_cannot_be_read_ends_failed_and_no_thread_dies(
    manager, thread_errors, caplog
):
    job = ipyjobs.start_job(process_jobs.ghost_value, backend="process")
    assert ipyjobs.wait_job(job, timeout=30) == [job]
    assert job.state is JobState.FAILED and type(job.reason) is ModuleNotFoundError
    assert thread_errors == []
    (line,) = [r.getMessage() for r in caplog.records if r.name == "ipyjobs"]
    assert line.startswith("ipyjobs: following a process job met an error it did not expect")


def test_an_unforeseen_error_in_an_ipyjobs_thread_is_one_line_and_it_starts_again(
    caplog, thread_errors
):
    from ipyjobs.execution.daemons import forget_thread, guarded

    class Owner:
        def __init__(self) -> None:
            self._lock = threading.Lock()
            self._thread: threading.Thread | None = None

        @guarded("the test's thread", then=forget_thread())
        def _main(self) -> None:
            raise RuntimeError("boom")

    owner = Owner()
    thread = owner._thread = threading.Thread(target=owner._main)
    thread.start()
    thread.join()
    assert owner._thread is None and thread_errors == []
    assert [r.getMessage() for r in caplog.records if r.name == "ipyjobs"] == [
        "ipyjobs: the test's thread met an error it did not expect: RuntimeError: boom"
    ]


def test_the_collector_goes_on_for_other_jobs_when_one_jobs_output_cannot_be_collected(
    manager, caplog, thread_errors
):
    from ipyjobs import Job
    from ipyjobs.execution.collector import Collector

    broken, fine = (
        Job(n, job_type="ThreadJob", command="x", parent=Job(0, job_type="ThreadJob", command="x"))
        for n in (1, 2)
    )

    class Unreadable:
        def collect(self) -> None:
            raise OSError("the disk went away")

    broken._records = Unreadable()  # type: ignore[assignment]
    collector = Collector()
    try:
        collector.watch_many([broken, fine])
        fine.records.pending.append("collected\n")
        eventually(lambda: fine.records.tail == "collected\n", 5)
        (line,) = [r.getMessage() for r in caplog.records if r.name == "ipyjobs"]
        assert "collecting Job1's output" in line and "the disk went away" in line
    finally:
        fine.set_state(JobState.STOPPED)  # nothing watched runs: the collector ends
        collector.close()
    assert thread_errors == []


def test_a_store_row_deleted_under_a_running_job_does_not_change_how_it_ends(
    manager, tmp_path, thread_errors
):
    import sqlite3

    store = tmp_path / "store"
    manager.store_dir = str(store)
    gate = str(tmp_path / "gate")
    job = ipyjobs.start_job(process_jobs.print_then_wait, 1, gate, detach=True)
    child = job.child_jobs[0]
    eventually(lambda: child.records.tail == "line 0\n", 30)
    with sqlite3.connect(store / "jobs.sqlite3") as db:
        db.execute("DELETE FROM jobs")
    db.close()
    open(gate, "w").close()
    assert job.result(30) == "finished" and job.state is JobState.COMPLETED
    (warning,) = [r for r in job.receive(keep=True, raw=True) if r.stream is Stream.WARNING]
    assert str(warning.value).startswith(
        f"{child.name}'s row in the job store {store}/jobs.sqlite3 was deleted while it ran"
    )
    assert thread_errors == []
