"""What only thread jobs do: reused workers, throttling, and the asynchronous stop."""

from __future__ import annotations

import gc
import threading
import time
import weakref

import pytest

import ipyjobs
from ipyjobs import JobState
from tests.conftest import eventually, ipyjobs_threads


def test_busy_loop_is_stopped_asynchronously_and_fast(manager):
    running = threading.Event()

    def spin():
        running.set()
        while True:
            pass

    job = ipyjobs.start_job(spin)
    running.wait(5)
    started = time.perf_counter()
    ipyjobs.stop_job(job)
    elapsed = time.perf_counter() - started
    assert job.state is JobState.STOPPED
    assert elapsed < 0.5, elapsed  # measured: well under 10 ms on 2 cores


def test_cooperative_job_gets_the_grace_period_to_clean_up(manager):
    manager.stop_grace = 2.0
    cleaned = threading.Event()
    checking = threading.Event()

    def careful():
        try:
            while True:
                ipyjobs.check_stop()
                checking.set()
                time.sleep(0.001)
        finally:
            cleaned.set()

    job = ipyjobs.start_job(careful)
    checking.wait(5)
    ipyjobs.stop_job(job)
    assert job.state is JobState.STOPPED and cleaned.is_set()


def test_job_blocked_in_a_c_call_stays_stopping_until_it_returns(manager):
    manager.stop_grace = 0.0
    release = threading.Event()
    waiting = threading.Event()
    after_wait = []

    def blocked():
        waiting.set()
        release.wait()  # a C-level wait: the asynchronous stop cannot land inside it
        after_wait.append("ran on")  # never reached: the stop lands as the wait returns

    job = ipyjobs.start_job(blocked)
    waiting.wait(5)
    ipyjobs.stop_job(job)  # returns after stop_grace + 1 s with the job still Stopping
    assert job.state is JobState.STOPPING
    release.set()
    assert job.wait_until_finished(5)
    assert job.state is JobState.STOPPED and after_wait == []


def test_a_stop_never_lands_in_the_next_job_of_the_worker(manager):
    """Stop requests racing with the end of a job must not leak into the next job that
    the same worker picks up."""
    manager.throttle_limit = 1  # one worker runs every job in turn
    for _ in range(200):
        job = ipyjobs.start_job(sum, range(200))
        ipyjobs.stop_job(job)  # may land before, during or after the job's code
        assert job.state in (JobState.STOPPED, JobState.COMPLETED)
    follow = ipyjobs.start_job(lambda: [time.sleep(0.001) for _ in range(50)] and "ok")
    assert follow.result(10) == "ok"


def test_workers_are_reused(manager):
    first = ipyjobs.start_job(threading.get_ident)
    first_thread = first.result(5)
    eventually(lambda: manager.backend("thread").pool._idle)
    second = ipyjobs.start_job(threading.get_ident)
    assert second.result(5) == first_thread


def test_jobs_never_wait_behind_each_other_without_a_throttle(manager):
    release = threading.Event()
    jobs = [ipyjobs.start_job(release.wait, 10) for _ in range(5)]
    eventually(lambda: all(job.state is JobState.RUNNING for job in jobs))
    release.set()
    assert len(ipyjobs.wait_job(*jobs, timeout=10)) == 5


def test_throttle_limit_queues_jobs_as_not_started_in_order(manager):
    manager.throttle_limit = 2
    release = threading.Event()
    order: list[int] = []

    def work(i):
        order.append(i)
        release.wait(10)

    jobs = [ipyjobs.start_job(work, i) for i in range(5)]
    eventually(lambda: sorted(order) == [0, 1])  # the two run at once: either may log first
    assert [job.state for job in jobs[2:]] == [JobState.NOT_STARTED] * 3
    ipyjobs.stop_job(jobs[3])  # a waiting job stops without ever running
    assert jobs[3].state is JobState.STOPPED and jobs[3].begin_time is None
    release.set()
    ipyjobs.wait_job(*jobs, timeout=10)
    assert sorted(order[2:]) == [2, 4]


def test_raising_the_throttle_limit_starts_waiting_jobs(manager):
    manager.throttle_limit = 1
    release = threading.Event()
    jobs = [ipyjobs.start_job(release.wait, 10) for _ in range(3)]
    eventually(lambda: jobs[0].state is JobState.RUNNING)
    assert jobs[2].state is JobState.NOT_STARTED
    manager.throttle_limit = 0
    eventually(lambda: all(job.state is JobState.RUNNING for job in jobs))
    release.set()


def test_shutdown_leaves_no_thread(manager):
    release = threading.Event()
    ipyjobs.start_job(release.wait, 0.2)
    ipyjobs.start_job(lambda: None)
    assert ipyjobs_threads()
    manager.shutdown()
    eventually(lambda: not ipyjobs_threads())


def test_thread_jobs_refuse_cwd_and_suspend(manager, tmp_path):
    with pytest.raises(ipyjobs.JobArgumentError, match="cwd"):
        ipyjobs.start_job(print, cwd=str(tmp_path))
    assert ipyjobs.get_job() == []
    job = ipyjobs.start_job(lambda: [time.sleep(0.01) for _ in range(1000)])
    with pytest.raises(ipyjobs.JobStateError, match="suspend"):
        ipyjobs.suspend_job(job)
    ipyjobs.stop_job(job)


def test_two_jobs_started_together_both_run_at_once(manager, monkeypatch):
    """The burst rule queues a job while a worker starts; the first few still get their
    own thread at once, without waiting for the ramp (made too slow to help here)."""
    from ipyjobs.backends import thread_pool as thread

    monkeypatch.setattr(thread, "RAMP_TICK", 60.0)
    original = thread.WorkerPool._started
    first = threading.Event()

    def slow_to_begin(pool):  # the first worker begins only once the second job waits
        if not first.is_set():
            first.set()
            eventually(lambda: len(pool._waiting) == 1)
        original(pool)

    monkeypatch.setattr(thread.WorkerPool, "_started", slow_to_begin)
    both = threading.Barrier(2, timeout=10)
    jobs = [ipyjobs.start_job(both.wait) for _ in range(2)]
    ipyjobs.wait_job(*jobs, timeout=10)
    assert [job.state for job in jobs] == [JobState.COMPLETED] * 2


def test_a_removed_job_is_not_kept_alive_by_the_idle_worker_that_ran_it(manager):
    # The first job a worker ran was kept by its thread's args, the last by its loop's
    # locals, with their records, until the worker ran another or exited (30 s idle).
    first = manager.start_job(int)
    first.wait(10)
    last = manager.start_job(int)
    last.wait(10)
    assert len(manager.backend("thread").pool.threads()) == 1  # one worker ran both
    gone = [weakref.ref(first), weakref.ref(first.child_jobs[0]), weakref.ref(last)]
    manager.remove_job(first, last)
    del first, last

    def all_gone() -> bool:
        gc.collect()  # the worker may still be leaving the last job's frame
        return all(ref() is None for ref in gone)

    eventually(all_gone, timeout=5)
