"""Bad and hostile input from inside and around jobs: each case was found by a stress run,
and each test fails without its fix."""

from __future__ import annotations

import gc
import io
import math
import os
import stat
import sys
import threading
import weakref

import pytest

import ipyjobs
from ipyjobs import JobState
from tests.conftest import eventually
from tests.test_records import make_job


@pytest.mark.parametrize(
    "call",
    [
        lambda job: ipyjobs.wait_job(job, timeout=math.nan),
        lambda job: ipyjobs.receive_job(job, wait=True, timeout=math.nan),
        lambda job: job.result(math.nan),
        lambda job: job.wait(math.nan),
        lambda job: ipyjobs.wait_job(job, timeout=True),
    ],
)
def test_a_nan_timeout_is_refused_not_read_as_forever(manager, call):
    release = threading.Event()
    job = ipyjobs.start_job(release.wait, 30)
    try:
        with pytest.raises(ipyjobs.JobArgumentError, match="timeout"):
            call(job)
    finally:
        release.set()
    assert job.wait(10)


@pytest.mark.parametrize("exception", [SystemExit, KeyboardInterrupt, ipyjobs.JobStopped])
def test_a_callback_raising_a_base_exception_wedges_nothing(manager, caplog, exception):
    """A callback raising SystemExit once killed the worker thread: the parent stayed
    Running, later callbacks never ran and, with a throttle of one, no job started again."""
    manager.throttle_limit = 1
    release = threading.Event()
    first = ipyjobs.start_job(release.wait, 30)
    eventually(lambda: first.state is JobState.RUNNING)  # the callbacks see its end only
    later_callbacks = []

    def hostile(job, previous, new):
        if new.finished:
            raise exception("from a callback")

    first.child_jobs[0].add_state_callback(hostile)
    first.child_jobs[0].add_state_callback(lambda j, p, n: later_callbacks.append(n))
    queued = ipyjobs.start_job(lambda: "next")
    release.set()
    assert first.wait(10) and first.state is JobState.COMPLETED
    assert later_callbacks == [JobState.COMPLETED]
    assert queued.result(10) == "next"  # the throttle's busy count did not leak
    assert "from a callback" in caplog.text


def test_closing_stdout_inside_a_job_leaves_the_kernels_stream_open(manager):
    saved = sys.stdout
    sys.stdout = real = io.StringIO()
    try:

        def closer():
            print("before")
            sys.stdout.close()
            sys.stderr.close()
            print("after")

        job = ipyjobs.start_job(closer)
        assert job.wait(10) and job.state is JobState.COMPLETED, job.reason
        assert not real.closed
        print("the next cell prints")
    finally:
        sys.stdout = saved
    assert "the next cell prints" in real.getvalue()
    assert "".join(r.value for r in job.receive(raw=True)) == "before\nafter\n"


def test_spilled_text_is_the_users_alone_whatever_the_umask():
    previous = os.umask(0o022)
    try:
        job = make_job(limit=10)
        job.records.pending.append("x" * 50)
        job.records.collect()
    finally:
        os.umask(previous)
    folder = job.records.spill_folder
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(folder, "spill.txt")).st_mode) == 0o600
    job.records.close()


class Big:
    """Stands for a large return value; a weak reference tells when it is garbage."""


def test_a_removed_job_frees_its_last_output_while_the_user_holds_the_job(manager):
    job = ipyjobs.start_job(Big)
    assert job.wait(10)
    value = weakref.ref(job.result())
    job.receive()  # the records are gone; result() still held the value until now
    ipyjobs.remove_job(job)
    gc.collect()
    assert value() is None
    with pytest.raises(ipyjobs.JobStateError, match="removed"):
        job.result()
