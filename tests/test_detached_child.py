"""A detached job's processes on their own: the supervisor outlives whoever started it,
the job spools what it produces, and a job killed unseen is spooled as Failed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import cloudpickle
import psutil

from ipyjobs.backends import StartRequest, detached_child
from ipyjobs.backends.shipping import pack_work
from ipyjobs.backends.spool import SpoolReader
from ipyjobs.backends.store import is_alive
from ipyjobs.execution.work import CallWork
from tests import process_jobs
from tests.conftest import eventually


def write_task(folder, function, *args) -> None:
    request = StartRequest(CallWork(function, args), "test")
    task = {
        "name": "Job2",
        "location": "localhost",
        "cwd": str(folder),
        "work": pack_work(request, "a detached job"),
    }
    (folder / detached_child.TASK).write_bytes(cloudpickle.dumps(task))


class Spool:
    """Everything read so far from a job's spool, by kind."""

    def __init__(self, folder) -> None:
        self.reader = SpoolReader(str(folder / detached_child.RECORDS))
        self.messages: list[tuple] = []

    def kinds(self) -> list[str]:
        self.messages += self.reader.read()
        return [m[0] for m in self.messages]

    def text(self) -> str:
        items = [i for m in self.messages if m[0] == "items" for i in m[1]]
        return "".join(i for i in items if isinstance(i, str))


def test_the_job_outlives_the_process_that_started_it_and_spools_everything(tmp_path):
    write_task(tmp_path, process_jobs.print_then_wait, 3, str(tmp_path / "gate"))
    starter = subprocess.run(  # a "kernel" that starts the job, then is gone
        [
            sys.executable,
            "-c",
            "import sys; from ipyjobs.backends import detached_child; "
            "detached_child.start(sys.argv[1])",
            str(tmp_path),
        ],
        timeout=60,
    )
    assert starter.returncode == 0
    spool = Spool(tmp_path)
    eventually(lambda: "running" in spool.kinds() and spool.text().count("\n") == 3, 30)
    (_, pid, start) = next(m for m in spool.messages if m[0] == "process")
    assert is_alive(pid, start)
    assert psutil.Process(pid).ppid() != os.getpid()  # nobody here is its parent
    (tmp_path / "gate").touch()
    eventually(lambda: "done" in spool.kinds(), 30)
    done = spool.messages[-1]
    assert done[1] == "Completed"
    outputs = [i for m in spool.messages if m[0] == "items" for i in m[1] if len(i) == 3]
    assert [cloudpickle.loads(i[1]) for i in outputs] == ["finished"]
    assert spool.text() == "line 0\nline 1\nline 2\n"
    eventually(lambda: not is_alive(pid, start), 10)


def test_a_job_killed_unseen_is_spooled_as_failed_with_the_signal(tmp_path):
    write_task(tmp_path, process_jobs.sleep_long)
    detached_child.start(str(tmp_path))
    spool = Spool(tmp_path)
    eventually(lambda: "running" in spool.kinds(), 30)
    (_, pid, start) = next(m for m in spool.messages if m[0] == "process")
    assert is_alive(pid, start)  # checked first: never a signal to a reused pid
    os.kill(pid, signal.SIGKILL)
    eventually(lambda: "done" in spool.kinds(), 30)
    _, state, reason = spool.messages[-1]
    assert state == "Failed"
    assert "killed by signal 9 (SIGKILL)" in str(cloudpickle.loads(reason))


def test_a_cooperative_stop_comes_as_a_file(tmp_path):
    write_task(tmp_path, process_jobs.stop_when_asked)
    detached_child.start(str(tmp_path))
    spool = Spool(tmp_path)
    eventually(lambda: "running" in spool.kinds(), 30)
    (tmp_path / detached_child.STOP).touch()
    eventually(lambda: "done" in spool.kinds(), 30)
    assert spool.messages[-1][1] == "Stopped"
