"""Waiting on jobs (Wait-Job, ``Job.result``), and the checks of the seconds it is given:
a number of seconds, never NaN or a bool, so a typo never reads as "wait forever"."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import JobArgumentError, JobStateError
from .state import FAILED, STOPPED, WAIT_RETURNS_STATES, JobState

if TYPE_CHECKING:
    from .job import Job


def check_timeout(timeout: float | None) -> None:
    """Refuse what is not a number of seconds >= 0. NaN is refused too: every comparison
    with it is false, so it would read as "wait forever"."""
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout >= 0:
        raise JobArgumentError(f"timeout must be a number of seconds >= 0, not {timeout!r}")


def check_limit(seconds: float | None) -> None:
    """Refuse a time limit that is not a number of seconds > 0 (NaN and booleans too)."""
    if seconds is None:
        return
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise JobArgumentError(f"timeout must be a number of seconds > 0, not {seconds!r}")
    if seconds == float("inf"):
        raise JobArgumentError("timeout must be finite; leave it out for no limit")


def wait_jobs(jobs: Sequence[Job], *, any: bool = False, timeout: float | None = None) -> list[Job]:
    """Wait-Job: block until all (or, with ``any``, one) of ``jobs`` finished or were
    suspended. Returns the jobs that did, in the given order; on timeout, those so far."""
    check_timeout(timeout)
    changed = threading.Event()

    def on_change(job: Job, previous: JobState, new: JobState) -> None:
        changed.set()

    for job in jobs:
        job.add_state_callback(on_change)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            done = [job for job in jobs if job.state in WAIT_RETURNS_STATES]
            if (any and done) or len(done) == len(jobs):
                return done
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return done
            changed.wait(remaining)
            changed.clear()
    finally:
        for job in jobs:
            job.remove_state_callback(on_change)


def result(job: Job, timeout: float | None = None) -> Any:
    """``Job.result``: wait, then the last output value, or raise the failure."""
    check_timeout(timeout)
    if not job.wait_until_finished(timeout):
        raise TimeoutError(f"{job.name} did not finish within {timeout} s")
    state = job.state
    if state is FAILED:
        assert job.reason is not None
        raise job.reason
    if state is STOPPED:
        raise JobStateError(f"{job.name} was stopped; it has no result")
    if job.removed:
        raise JobStateError(f"{job.name} was removed; its result was freed")
    if not job.child_jobs:
        return job.last_output
    if len(job.child_jobs) == 1:
        return job.child_jobs[0].result()
    return [child.result() for child in job.child_jobs]
