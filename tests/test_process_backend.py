"""What only process jobs do: isolation, copies, the stop ladder, suspend,
crash reasons, and nothing left behind."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import psutil
import pytest

import ipyjobs
from ipyjobs import JobState, Stream
from tests import process_jobs
from tests.conftest import close_shell, eventually


def start(*args, **kwargs):
    return ipyjobs.start_job(*args, backend="process", **kwargs)


def test_output_streams_live_from_the_child(manager, tmp_path):
    gate = str(tmp_path / "gate")
    job = start(process_jobs.stamp_then_wait, gate)
    eventually(lambda: job.has_more_data)
    arrived = time.time()
    (record,) = job.receive(raw=True)
    sent = float(record.value.split()[1])
    assert arrived - sent < 0.2, arrived - sent
    open(gate, "w").close()
    job.wait(10)


def test_output_before_a_c_call_that_holds_the_gil_arrives_at_once(manager):
    """The child's flusher thread never gets the GIL while the job is in a long C call:
    what the job wrote just before it must leave from the writing thread itself."""
    job = start(process_jobs.write_then_hold_the_gil)
    eventually(lambda: job.state is JobState.RUNNING, 30)
    running = time.monotonic()
    eventually(lambda: job.has_more_data, 5)
    assert time.monotonic() - running < 1.0
    (pid,) = job.receive()
    assert psutil.Process(pid).status() == psutil.STATUS_RUNNING  # still in the C loop
    job.stop()
    assert job.state is JobState.STOPPED


def test_lines_a_flush_holds_as_the_job_ends_arrive_in_order(manager):
    """The child's final flush once raced its flusher thread: "done" could overtake a
    batch the flusher had taken, and the kernel, reading no further, lost it (about one
    job in six that wrote 300 000 lines to its last moment)."""
    job = start(process_jobs.ends_while_a_flush_is_under_way, 1000)
    assert job.wait(20)
    text = "".join(r.value for r in job.receive(raw=True) if r.stream is Stream.STDOUT)
    assert text == "".join(f"{i}\n" for i in range(1000))


def test_the_child_is_another_process_in_the_kernels_cwd(manager, tmp_path, monkeypatch):
    assert start(process_jobs.pid).result(20) != os.getpid()
    monkeypatch.chdir(tmp_path)
    assert start(process_jobs.cwd).result(20) == str(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    assert start(process_jobs.cwd, cwd=str(other)).result(20) == str(other)


def test_names_are_copied_at_start(manager):
    main = __import__("sys").modules["__main__"]
    main.offset = 10
    main.double = lambda x: 2 * x  # a lambda defined "in the notebook"
    try:
        job = ipyjobs.start_job("import time\ntime.sleep(0.3)\ndouble(offset)", backend="process")
        main.offset = 99  # rebinding after start changes nothing for the job
        assert job.result(20) == 20
        explicit = ipyjobs.start_job("offset", backend="process", using=["offset"])
        assert explicit.result(20) == 99
    finally:
        del main.offset, main.double


def test_an_unpicklable_name_is_left_out_with_one_warning(manager):
    main = __import__("sys").modules["__main__"]
    main.lock = threading.Lock()
    try:
        with pytest.warns(RuntimeWarning, match="'lock' cannot be copied") as warned:
            job = ipyjobs.start_job("lock", backend="process")
        assert len(warned) == 1
        job.wait(20)
        assert job.state is JobState.FAILED and isinstance(job.reason, NameError)
    finally:
        del main.lock


def test_an_unpicklable_output_becomes_an_error_record_naming_the_type(manager):
    job = start(process_jobs.unpicklable_output)
    job.wait(20)
    records = job.receive(raw=True)
    errors = [r for r in records if r.stream is Stream.ERROR]
    assert errors and "lock" in errors[0].text.lower() and "cannot be sent back" in errors[0].text


@pytest.mark.parametrize("grace", [0.3])
def test_stop_ladder_reaches_a_job_that_ignores_sigint(manager, grace):
    manager.stop_grace = grace
    job = start(process_jobs.ignore_sigint_forever)
    eventually(lambda: job.state is JobState.RUNNING, 20)
    started = time.monotonic()
    ipyjobs.stop_job(job)
    job.wait_until_finished(10)
    assert job.state is JobState.STOPPED
    assert time.monotonic() - started < 3 * grace + 1.5  # INT, then TERM ended it


def test_a_sleeping_job_stops_within_grace_plus_a_second(manager):
    manager.stop_grace = 0.5
    job = start(process_jobs.sleep_long)
    eventually(lambda: job.state is JobState.RUNNING, 20)
    started = time.monotonic()
    ipyjobs.stop_job(job)
    assert job.state is JobState.STOPPED
    assert time.monotonic() - started < 0.5 + 1.0


def ipyjobs_pid(job) -> int:
    """The pid of a running process job's process (what the backend signals)."""
    child = job.child_jobs[0]
    return child.runner._lane_of(child).process.pid


def test_suspend_and_resume(manager, tmp_path):
    counter = tmp_path / "count"
    job = start(process_jobs.count_forever, str(counter))
    eventually(lambda: process_jobs.read_count(counter) > 0)
    states = []
    job.add_state_callback(lambda j, previous, new: states.append(new))
    ipyjobs.suspend_job(job)
    assert job.state is JobState.SUSPENDED
    # Suspended only once the process is seen stopped (once set right after the signal,
    # when the process often still ran).
    assert psutil.Process(ipyjobs_pid(job)).status() == psutil.STATUS_STOPPED
    assert states == [JobState.SUSPENDING, JobState.SUSPENDED]
    assert ipyjobs.wait_job(job, timeout=5) == [job]  # Wait-Job returns on Suspended
    frozen = process_jobs.read_count(counter)
    time.sleep(0.3)  # (checking that nothing happens takes time by nature)
    assert process_jobs.read_count(counter) == frozen
    ipyjobs.resume_job(job)
    assert job.state is JobState.RUNNING
    assert psutil.Process(ipyjobs_pid(job)).status() != psutil.STATUS_STOPPED
    eventually(lambda: process_jobs.read_count(counter) > frozen)
    ipyjobs.stop_job(job)
    assert job.state is JobState.STOPPED


@pytest.mark.parametrize(
    ("body", "args", "reason"),
    [
        (process_jobs.kill_self, (signal.SIGKILL,), "killed by signal 9 (SIGKILL)"),
        (os._exit, (3,), "exited with code 3"),
    ],
)
def test_a_dying_child_fails_the_job_saying_how(manager, body, args, reason):
    job = start(body, *args)
    job.wait(20)
    assert job.state is JobState.FAILED
    assert reason in str(job.reason)


def job_processes() -> list[psutil.Process]:
    """Processes of jobs: the children of multiprocessing's forkserver (the kernel's own
    children are that server and the resource tracker, shared by all jobs, which end with
    the kernel; an ipyparallel cluster of other tests has processes of its own)."""
    found = []
    for server in psutil.Process().children():
        try:  # a process may end between the listing and these questions
            if "forkserver" not in " ".join(server.cmdline()):
                continue
            found += [p for p in server.children() if p.status() != psutil.STATUS_ZOMBIE]
        except psutil.NoSuchProcess:
            continue
    return found


def test_nothing_is_left_behind_after_remove_and_shutdown(manager):
    jobs = [start(process_jobs.sleep_long) for _ in range(3)]
    eventually(lambda: all(j.state is JobState.RUNNING for j in jobs), 20)
    assert len(job_processes()) == 3
    ipyjobs.remove_job(jobs[0], force=True)
    eventually(lambda: len(job_processes()) == 2, 10)
    manager.shutdown()
    eventually(lambda: not job_processes(), 10)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ipyjobs.start_job(print, backend="nope"), "unknown backend"),
        (lambda: ipyjobs.start_job("x", backend="process", using=["no_such_name"]), "no_such_name"),
        (
            lambda: ipyjobs.start_job(
                lambda: threading.Lock(), threading.Lock(), backend="process"
            ),
            "cannot send",
        ),
    ],
)
def test_bad_input_makes_no_job_and_no_process(manager, call, message):
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(ipyjobs.JobArgumentError, match=message):
        call()
    assert ipyjobs.get_job() == []
    after = {
        p.pid
        for p in psutil.Process().children(recursive=True)
        if "forkserver" not in " ".join(p.cmdline())
    }
    assert after <= before


def test_unloading_the_extension_leaves_no_job_process(ip):
    from tests.conftest import run

    run(ip, "import time")
    run(ip, "%job_start -b process time.sleep(3600)")
    run(ip, "job = %job_start -b process -n quick 6 * 7")
    eventually(lambda: len(job_processes()) >= 1, 20)
    assert ip.user_ns["job"].result(20) == 42
    run(ip, "%unload_ext ipyjobs")
    eventually(lambda: not job_processes(), 10)


def living_children() -> set[int]:
    """This process's descendants that are alive (not zombies)."""
    found = set()
    for process in psutil.Process().children(recursive=True):
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                found.add(process.pid)
        except psutil.NoSuchProcess:
            continue
    return found


def test_after_unload_no_process_ipyjobs_started_remains():
    """Not the job processes, nor the forkserver they came from, nor the resource
    tracker that ipyjobs' first process job started."""
    from IPython.core.interactiveshell import InteractiveShell

    from ipyjobs.backends import forkserver
    from tests.conftest import run

    before = living_children()
    shell = InteractiveShell.instance()
    main = sys.modules["__main__"]
    try:
        run(shell, "%load_ext ipyjobs")
        assert run(shell, "%job_start -b process 6 * 7").result(30) == 42
        assert forkserver.server_pid() in living_children() - before
        run(shell, "%unload_ext ipyjobs")
    finally:
        close_shell(shell, main)
    eventually(lambda: living_children() <= before, 10)
    assert forkserver.server_pid() is None


def test_unload_leaves_the_resource_tracker_that_the_users_code_shares(manager, caplog):
    """The user's code started multiprocessing's own forkserver after ipyjobs started the
    tracker: that code needs the tracker, so ipyjobs leaves it and says why."""
    import logging
    import multiprocessing
    from multiprocessing import forkserver as mp_forkserver
    from multiprocessing import resource_tracker

    from ipyjobs.backends import forkserver

    assert start(process_jobs.pid).result(30)
    tracker = forkserver.tracker_pid()
    users = multiprocessing.get_context("forkserver").Process(target=os.getpid)
    users.start()
    users.join(30)
    try:
        with caplog.at_level(logging.INFO, logger="ipyjobs"):
            manager.shutdown()
        assert forkserver.server_pid() is None
        assert psutil.Process(tracker).status() != psutil.STATUS_ZOMBIE
        assert "leaving multiprocessing's resource tracker running" in caplog.text
    finally:
        mp_forkserver._forkserver._stop()  # what the user's code would leave running
        resource_tracker._resource_tracker._stop()


def test_a_process_job_starts_as_fast_whoever_started_multiprocessings_forkserver(manager):
    """multiprocessing's forkserver ignores a preload list once it runs: ipyjobs' children
    come from a server of its own, which never imports the user's __main__ either."""
    import multiprocessing
    from multiprocessing import forkserver as mp_forkserver
    from multiprocessing import resource_tracker

    from ipyjobs.backends import forkserver

    users = multiprocessing.get_context("forkserver").Process(target=os.getpid)
    users.start()  # the user's code starts multiprocessing's own server first
    users.join(30)
    try:
        parent = start(process_jobs.parent_pid).result(30)
        assert parent == forkserver.server_pid() != mp_forkserver._forkserver._forkserver_pid
    finally:
        manager.shutdown()
        mp_forkserver._forkserver._stop()
        resource_tracker._resource_tracker._stop()


def test_a_job_out_of_memory_fails_with_memory_error(manager):
    job = start(process_jobs.exhaust_memory)
    job.wait(30)
    assert job.state is JobState.FAILED and isinstance(job.reason, MemoryError)
    assert start(process_jobs.pid).result(20)  # the kernel and its forkserver are fine


def test_a_suspended_job_is_continued_by_its_stop(manager):
    manager.stop_grace = 1.0
    job = start(process_jobs.sleep_long)
    eventually(lambda: job.state is JobState.RUNNING, 20)
    ipyjobs.suspend_job(job)
    started = time.monotonic()
    ipyjobs.stop_job(job)
    job.wait_until_finished(10)
    assert job.state is JobState.STOPPED
    # SIGINT ended it after one grace; a process left stopped ends only by SIGKILL,
    # after three.
    assert time.monotonic() - started < 1.0 + 1.5
