"""Detached process jobs from the kernel's side: started, streamed live, stopped, left
running when the manager (the kernel) goes, and refused with one clear error."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

import ipyjobs
from ipyjobs import JobState, Stream
from ipyjobs.backends.store import JobStore, is_alive
from tests import process_jobs
from tests.conftest import eventually
from tests.kernel import Kernel


def kill_stored_jobs(folder) -> None:
    """Leave no job process behind, whatever a test did (checked by pid and start)."""
    if os.path.isdir(folder):
        for row in JobStore(str(folder)).jobs():
            if is_alive(row.pid, row.pid_start):
                os.kill(row.pid, signal.SIGKILL)


@pytest.fixture
def store_dir(manager, tmp_path):
    folder = tmp_path / "store"
    manager.store_dir = str(folder)
    try:
        yield folder
    finally:
        manager.shutdown()
        kill_stored_jobs(folder)


def gone(pid: int) -> bool:
    """The process ended (a zombie its parent has not reaped yet counts as ended)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def start(*args, **kwargs):
    return ipyjobs.start_job(*args, detach=True, **kwargs)


def job_process(job) -> psutil.Process:
    child = job.child_jobs[0]
    eventually(lambda: child.runner._handle(child) is None or child.runner._handle(child).pid, 30)
    row = JobStore(ipyjobs.get_manager().store_dir).get(str(child.instance_id))
    assert is_alive(row.pid, row.pid_start)
    return psutil.Process(row.pid)


def test_a_detached_job_streams_live_and_ends_in_the_store(store_dir, tmp_path):
    gate = str(tmp_path / "gate")
    job = start(process_jobs.print_then_wait, 3, gate, name="train")
    assert job.job_type == "ProcessJob"
    eventually(lambda: job.state is JobState.RUNNING, 30)
    process = job_process(job)
    assert process.pid != os.getpid() and os.getpid() not in [p.pid for p in process.parents()]
    eventually(lambda: job.has_more_data, 10)
    assert job.receive(keep=True, raw=True)[0].value.startswith("line 0\n")
    open(gate, "w").close()
    assert job.result(30) == "finished"
    text = "".join(r.value for r in job.receive(raw=True) if r.stream is Stream.STDOUT)
    assert text == "line 0\nline 1\nline 2\n"
    rows = JobStore(str(store_dir)).jobs()
    assert [(r.id, r.name, r.state) for r in rows] == [
        (job.id, "train", "Completed"),
        (job.child_jobs[0].id, job.child_jobs[0].name, "Completed"),
    ]
    assert rows[0].scope == os.getcwd() and rows[1].pid == process.pid


def test_stop_ends_the_detached_process(store_dir):
    job = start(process_jobs.sleep_long)
    eventually(lambda: job.state is JobState.RUNNING, 30)
    process = job_process(job)
    ipyjobs.stop_job(job)
    eventually(lambda: job.state is JobState.STOPPED, 10)
    eventually(lambda: gone(process.pid), 10)
    (parent, child) = JobStore(str(store_dir)).jobs()
    assert parent.state == child.state == "Stopped"


def test_the_stop_ladder_reaches_a_detached_job_that_ignores_sigint(manager, store_dir):
    manager.stop_grace = 0.3
    job = start(process_jobs.ignore_sigint_forever)
    eventually(lambda: job.state is JobState.RUNNING, 30)
    process = job_process(job)
    started = time.monotonic()
    ipyjobs.stop_job(job)
    eventually(lambda: job.state is JobState.STOPPED, 10)
    eventually(lambda: gone(process.pid), 10)
    assert time.monotonic() - started < 3 * 0.3 + 1.5  # the file, INT, then TERM ended it


def test_a_detached_job_stopped_while_it_starts_is_stopped_when_it_runs(manager, store_dir):
    manager.stop_grace = 0.3
    job = start(process_jobs.sleep_long)
    ipyjobs.stop_job(job)  # its process is not there yet: a later step of the ladder is
    eventually(lambda: job.state is JobState.STOPPED, 10)
    row = JobStore(str(store_dir)).get(str(job.child_jobs[0].instance_id))
    eventually(lambda: not is_alive(row.pid, row.pid_start), 10)


def test_the_job_runs_on_when_the_manager_shuts_down(manager, store_dir, tmp_path):
    counter = tmp_path / "count"
    job = start(process_jobs.count_forever, str(counter))
    eventually(lambda: job.state is JobState.RUNNING, 30)
    process = job_process(job)
    manager.shutdown()  # what unloading or a kernel restart does
    before = process_jobs.read_count(counter)
    eventually(lambda: process_jobs.read_count(counter) > before + 5, 10)
    parent = JobStore(str(store_dir)).jobs()[0]
    assert parent.state == "Running" and parent.holder is None  # nobody holds it now
    process.kill()


def stored_states(store_dir) -> list[str]:
    return [row.state for row in JobStore(str(store_dir)).jobs()]


def test_a_detached_job_is_suspended_and_resumed_and_the_store_says_so(
    manager, store_dir, tmp_path
):
    counter = tmp_path / "count"
    job = start(process_jobs.count_forever, str(counter))
    eventually(lambda: job.state is JobState.RUNNING, 30)
    process = job_process(job)
    ipyjobs.suspend_job(job)  # returns once the process is seen stopped
    assert job.state is job.child_jobs[0].state is JobState.SUSPENDED
    assert process.status() == psutil.STATUS_STOPPED
    assert stored_states(store_dir) == ["Suspended", "Suspended"]
    ipyjobs.resume_job(job)
    assert job.state is JobState.RUNNING and process.status() != psutil.STATUS_STOPPED
    assert stored_states(store_dir) == ["Running", "Running"]
    before = process_jobs.read_count(counter)
    eventually(lambda: process_jobs.read_count(counter) > before + 3, 10)  # it runs on


def test_a_suspended_detached_job_stays_suspended_for_the_next_kernel_and_stops(manager, store_dir):
    job = start(process_jobs.sleep_long, name="paused")
    eventually(lambda: job.state is JobState.RUNNING, 30)
    process = job_process(job)
    ipyjobs.suspend_job(job)
    manager.shutdown()  # the kernel goes; the process stays stopped
    later = ipyjobs.JobManager(store_dir=str(store_dir), stop_grace=1.0)  # the next kernel
    try:
        (attached,) = later.attach_detached()
        assert attached.state is JobState.SUSPENDED  # not Running: its process is stopped
        assert process.status() == psutil.STATUS_STOPPED
        started = time.monotonic()
        later.stop_job(attached)  # continued first: a stopped process sees no stop
        eventually(lambda: attached.state is JobState.STOPPED, 10)
        eventually(lambda: gone(process.pid), 10)
        # SIGINT ended it after one grace; a process left stopped ends only by SIGKILL,
        # after three.
        assert time.monotonic() - started < 1.0 + 1.5
        assert stored_states(store_dir) == ["Stopped", "Stopped"]
    finally:
        later.shutdown()


def test_suspending_a_detached_job_that_is_not_running_is_one_clear_error(manager, store_dir):
    job = start(process_jobs.sleep_long)
    eventually(lambda: job.state is JobState.RUNNING, 30)
    ipyjobs.suspend_job(job)
    with pytest.raises(ipyjobs.JobStateError, match="not running, so it cannot be suspended"):
        ipyjobs.suspend_job(job)
    ipyjobs.resume_job(job)
    with pytest.raises(ipyjobs.JobStateError, match="is not suspended"):
        ipyjobs.resume_job(job)
    assert job.state is JobState.RUNNING


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"backend": "thread"}, "cannot run on the thread backend"),
        ({"engines": "all"}, "engines"),
        ({"detach": "yes"}, "True or False"),
    ],
)
def test_bad_input_makes_no_job_and_no_process(store_dir, options, message):
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(ipyjobs.JobArgumentError, match=message):
        ipyjobs.start_job(len, "x", **{"detach": True, **options})
    assert ipyjobs.get_job() == []
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before


def test_an_unusable_store_is_one_clear_error_and_no_job(manager, tmp_path):
    blocked = tmp_path / "a file"
    blocked.write_text("")
    manager.store_dir = str(blocked / "store")
    with pytest.raises(ipyjobs.StoreError, match="cannot be made"):
        start(len, "x")
    open_folder = tmp_path / "open"
    open_folder.mkdir()
    open_folder.chmod(0o777)
    manager.store_dir = str(open_folder)
    with pytest.raises(ipyjobs.StoreError, match="open to other users"):
        start(len, "x")
    assert ipyjobs.get_job() == []


KERNEL_JOB = """
import ipyjobs
ipyjobs.get_manager().store_dir = {store!r}
job = ipyjobs.start_job(
    "import time\\nfor i in range(100000):\\n    print(i, flush=True)\\n    time.sleep(0.02)",
    detach=True,
)
job.child_jobs[0].wait_until_finished(0)
"""


@pytest.mark.parametrize("end", ["SIGKILL", "shutdown"])
def test_the_job_outlives_its_kernel_and_keeps_recording(tmp_path, end):
    store_dir = str(tmp_path / "store")
    kernel = Kernel()
    try:
        reply = kernel.execute(KERNEL_JOB.format(store=store_dir))
        assert reply["content"]["status"] == "ok", reply["content"]
        store = JobStore(store_dir)
        eventually(lambda: len(store.jobs()) == 2 and store.jobs()[1].pid, 30)
        child = store.jobs()[1]
        spool = os.path.join(child.spool, "records")
        eventually(lambda: os.path.getsize(spool) > 0, 30)
        if end == "SIGKILL":
            kernel.kill()
        else:
            kernel_pid = kernel.manager.provisioner.process.pid
            kernel.shutdown()
            eventually(lambda: gone(kernel_pid), 30)
        size = os.path.getsize(spool)
        eventually(lambda: os.path.getsize(spool) > size + 100, 10)  # it still records
        assert is_alive(child.pid, child.pid_start)
        os.kill(child.pid, signal.SIGKILL)
        eventually(
            lambda: store.get(child.instance_id) and not is_alive(child.pid, child.pid_start)
        )
    finally:
        kill_stored_jobs(store_dir)
        if end == "SIGKILL":
            kernel.client.stop_channels()
            kernel.manager.cleanup_resources()


def test_the_magics_detach_with_d(ip, tmp_path):
    from tests.conftest import run

    manager = ipyjobs.get_manager()
    manager.store_dir = str(tmp_path / "store")
    try:
        job = run(ip, "%job_start -d -n quick 6 * 7")
        assert job.name == "quick" and job.result(30) == 42
        cell = run(ip, "%%job --detach\n'from a cell'")
        assert cell.result(30) == "from a cell"
        assert [r.name for r in JobStore(manager.store_dir).jobs()][::2] == ["quick", cell.name]
        with pytest.raises(Exception, match="cannot run on the thread backend"):
            run(ip, "%job_start -d -b thread 1")
    finally:
        kill_stored_jobs(manager.store_dir)


def test_the_scope_is_the_notebook_when_the_server_names_it(store_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/analysis.ipynb")
    job = start(process_jobs.sleep_long, name="long")
    eventually(lambda: job.state is JobState.RUNNING, 30)
    assert {r.scope for r in JobStore(str(store_dir)).jobs()} == {"/home/me/analysis.ipynb"}
    ipyjobs.get_manager().shutdown()
    other = ipyjobs.JobManager(store_dir=str(store_dir))  # another notebook's kernel
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/other.ipynb")
    assert other.attach_detached() == []
    same = ipyjobs.JobManager(store_dir=str(store_dir))  # the same notebook's, later
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/analysis.ipynb")
    (attached,) = same.attach_detached()
    assert (attached.id, attached.name, attached.state) == (job.id, "long", JobState.RUNNING)
    same.stop_job(attached)
    assert attached.state is JobState.STOPPED
    same.shutdown()
    other.shutdown()


def test_a_job_killed_while_no_kernel_watched_is_failed_with_its_signal(manager, store_dir):
    job = start(process_jobs.sleep_long, name="doomed")
    eventually(lambda: job.state is JobState.RUNNING, 30)
    process = job_process(job)
    manager.shutdown()  # the kernel goes
    process.kill()  # and the job's process dies while nobody watches
    eventually(lambda: gone(process.pid), 10)
    later = ipyjobs.JobManager(store_dir=str(store_dir))  # the next kernel
    try:
        (attached,) = later.attach_detached()
        eventually(lambda: attached.finished, 10)
        assert attached.state is JobState.FAILED
        assert "killed by signal 9 (SIGKILL)" in str(attached.reason)
    finally:
        later.shutdown()


def test_a_kernel_dying_before_it_notes_a_receive_hands_the_records_over_again(
    manager, store_dir, tmp_path
):
    """At least once: the receive hands the records over, the kernel dies before the
    store notes it, and the next kernel hands them over again (none is lost)."""
    gate = str(tmp_path / "gate")
    job = start(process_jobs.print_then_wait, 3, gate, name="twice")
    eventually(lambda: job.child_jobs[0].records.tail.count("\n") == 3, 30)
    job.child_jobs[0].records.on_take = None  # the kernel dies just before the note
    first = "".join(r.value for r in job.receive(raw=True))
    manager.shutdown()
    later = ipyjobs.JobManager(store_dir=str(store_dir))
    try:
        (attached,) = later.attach_detached()
        again = "".join(r.value for r in attached.receive(raw=True))
        assert first == again == "line 0\nline 1\nline 2\n"
        assert attached.receive(raw=True) == []  # noted this time: not a third time
        open(gate, "w").close()
        assert attached.result(30) == "finished"
    finally:
        later.shutdown()


def test_old_finished_jobs_are_pruned_when_a_manager_starts(manager, store_dir):
    job = start(len, "abc", name="old")
    assert job.result(30) == 3
    manager.shutdown()
    store = JobStore(str(store_dir))
    store.update(str(job.instance_id), end_time=time.time() - 3 * 86400)
    keeping = ipyjobs.JobManager(store_dir=str(store_dir), keep_finished_days=0)
    assert [j.name for j in keeping.attach_detached()] == ["old"]  # 0 keeps them
    keeping.shutdown()
    pruning = ipyjobs.JobManager(store_dir=str(store_dir), keep_finished_days=2)
    assert pruning.attach_detached() == []
    assert store.jobs() == []
    pruning.shutdown()


def test_a_detached_jobs_cpu_and_memory_are_sampled_and_final(store_dir):
    ipyjobs.get_manager().sampler.interval = 0.1
    job = start(process_jobs.burn, 1.5, 40)
    (child,) = job.child_jobs
    eventually(lambda: (child.cpu_time or 0) > 0.3 and not job.finished, 30)
    assert job.result(60) == 40 << 20
    assert 1.4 <= job.cpu_time < 3 and job.peak_memory > 40 << 20


def test_a_detached_job_past_its_time_limit_is_failed_in_the_store_too(store_dir):
    """The kernel says Failed (JobTimeoutError); so do the store and a later kernel
    (the store said Stopped, which is how its process ended, not why)."""
    job = start(process_jobs.sleep_long, timeout=0.5, name="limited")
    assert ipyjobs.wait_job(job, timeout=30) == [job]
    assert job.state is JobState.FAILED and isinstance(job.reason, ipyjobs.JobTimeoutError)
    rows = JobStore(str(store_dir)).jobs()
    assert [(r.state, (r.reason or "").split(":")[0]) for r in rows] == [
        ("Failed", "JobTimeoutError"),
        ("Failed", "JobTimeoutError"),
    ]
    ipyjobs.get_manager().shutdown()
    later = ipyjobs.JobManager(store_dir=str(store_dir))
    try:
        (attached,) = later.attach_detached()
        assert attached.state is JobState.FAILED and "time limit" in str(attached.reason)
    finally:
        later.shutdown()


def test_every_file_of_a_stopped_jobs_spool_is_the_users_alone(store_dir):
    job = start(process_jobs.sleep_long)
    eventually(lambda: job.state is JobState.RUNNING, 30)
    ipyjobs.stop_job(job)
    assert job.state is JobState.STOPPED
    (spool,) = (store_dir / "spools").iterdir()
    modes = {path.name: oct(path.stat().st_mode & 0o777) for path in spool.iterdir()}
    assert "stop" in modes and "end" in modes
    assert set(modes.values()) == {"0o600"}, modes
