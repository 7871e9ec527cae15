"""A thread job's stop and its time limit reach it inside ``time.sleep`` (DESIGN §14),
as PowerShell's Stop-Job ends a Start-Sleep; outside a job ``time.sleep`` is Python's."""

from __future__ import annotations

import time

import pytest

import ipyjobs
from ipyjobs import JobState, JobTimeoutError
from ipyjobs.execution import capture, sleeping
from tests.conftest import eventually


def sleep_long() -> str:
    time.sleep(30)
    return "woke"


def sleep_imported_long() -> None:
    from time import sleep  # taken while the job runs: the routed one

    sleep(30)


def asleep(job) -> bool:
    """The job's code is in ``time.sleep`` (a sleeping job counts as one that checks)."""
    return job.child_jobs[0].checks_stop


@pytest.mark.parametrize("body", [sleep_long, sleep_imported_long])
def test_a_stop_ends_a_thread_job_inside_time_sleep_at_once(manager, body):
    job = ipyjobs.start_job(body)
    eventually(lambda: asleep(job))
    started = time.monotonic()
    ipyjobs.stop_job(job)
    assert time.monotonic() - started < manager.stop_grace + 0.5
    assert job.state is JobState.STOPPED


def test_a_time_limit_ends_a_thread_job_inside_time_sleep(manager):
    started = time.monotonic()
    job = ipyjobs.start_job(sleep_long, timeout=0.5)
    assert ipyjobs.wait_job(job, timeout=10) == [job]
    assert time.monotonic() - started < 0.5 + manager.stop_grace + 1.0
    assert job.state is JobState.FAILED and isinstance(job.reason, JobTimeoutError)


def test_a_sleep_nobody_stops_sleeps_its_time(manager):
    job = ipyjobs.start_job(lambda: (time.sleep(0.2), "done")[1])
    started = time.monotonic()
    assert job.result(10) == "done"
    assert time.monotonic() - started >= 0.2


def test_time_sleep_is_pythons_own_outside_a_job_and_says_what_python_says(manager):
    ipyjobs.start_job(lambda: None).wait(10)  # the routing is in place
    assert time.sleep is sleeping.sleep
    for bad, error in ((-1, ValueError), ("1", TypeError), (float("nan"), ValueError)):
        with pytest.raises(error):
            sleeping.original(bad)
        with pytest.raises(error):
            time.sleep(bad)
        inside = ipyjobs.start_job(lambda bad=bad: time.sleep(bad))
        inside.wait(10)
        assert type(inside.reason) is error
    started = time.monotonic()
    time.sleep(0.05)
    assert time.monotonic() - started >= 0.05


def test_unloading_the_routing_gives_python_its_sleep_back():
    capture.acquire()
    assert time.sleep is sleeping.sleep
    capture.release()
    assert time.sleep is sleeping.original


def test_a_process_job_sleeps_as_python_does_and_a_stop_still_reaches_it(manager):
    job = ipyjobs.start_job(sleep_long, backend="process")
    eventually(lambda: job.state is JobState.RUNNING, 30)
    started = time.monotonic()
    ipyjobs.stop_job(job)
    assert job.state is JobState.STOPPED
    assert time.monotonic() - started < manager.stop_grace + 1.5
