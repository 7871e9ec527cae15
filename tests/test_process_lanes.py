"""A process fan-out's children run in lanes: at most ``throttle`` processes, each running
one child after another (docs/decisions.md), each child stopped, timed and measured as
its own job."""

from __future__ import annotations

import multiprocessing
import os

import pytest

import ipyjobs
from ipyjobs import JobState
from ipyjobs.backends.forkserver import JobProcess
from ipyjobs.model.errors import JobTimeoutError
from tests import process_jobs
from tests.conftest import eventually, run


def job_processes() -> list[multiprocessing.Process]:
    return [p for p in multiprocessing.active_children() if isinstance(p, JobProcess)]


def test_a_process_fan_out_runs_in_as_many_processes_as_its_throttle(manager):
    job = ipyjobs.start_job(process_jobs.pid_of_item, each=range(8), throttle=2, backend="process")
    assert job.wait(60) and job.state is JobState.COMPLETED
    results = ipyjobs.receive_job(job)
    assert [item for item, _ in results] == list(range(8))
    assert len({pid for _, pid in results}) <= 2  # eight children, two processes
    assert job_processes() == []  # the lanes ended with the last child


def test_a_child_stopped_in_its_lane_leaves_the_lane_to_the_next(manager):
    job = ipyjobs.start_job(process_jobs.loop_on, 1, each=range(4), throttle=1, backend="process")
    looping = job.child_jobs[1]
    eventually(lambda: looping.state is JobState.RUNNING, 30)
    ipyjobs.stop_job(looping)  # a SIGINT meant for it interrupts it, and only it
    assert job.wait(60)
    assert [c.state for c in job.child_jobs] == [
        JobState.COMPLETED,
        JobState.STOPPED,
        JobState.COMPLETED,
        JobState.COMPLETED,
    ]
    pids = [c.last_output for c in job.child_jobs if c is not looping]
    assert len(set(pids)) == 1  # all in the one lane, which outlived the stop


def test_a_child_that_ignores_stops_ends_its_lane_and_the_rest_run_in_a_new_one(manager):
    job = ipyjobs.start_job(
        process_jobs.stubborn_on, 1, each=range(4), throttle=1, timeout=1.0, backend="process"
    )
    assert job.wait(60)
    states = [c.state for c in job.child_jobs]
    assert states == [JobState.COMPLETED, JobState.FAILED, JobState.COMPLETED, JobState.COMPLETED]
    assert isinstance(job.child_jobs[1].reason, JobTimeoutError)
    first, _, third, fourth = (c.last_output for c in job.child_jobs)
    assert third == fourth and third != first  # its lane was killed with it


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's clear_refs")
def test_each_child_in_a_lane_reports_its_own_cpu_and_peak(manager):
    job = ipyjobs.start_job(process_jobs.hoard_on, 0, each=range(2), throttle=1, backend="process")
    assert job.wait(60) and job.state is JobState.COMPLETED
    hoarder, idle = job.child_jobs
    assert hoarder.last_output == idle.last_output  # one process ran both
    assert hoarder.peak_memory >= 150 << 20 and idle.peak_memory < hoarder.peak_memory - (100 << 20)
    assert hoarder.cpu_time >= 0.25 and idle.cpu_time < 0.1


def test_each_item_of_a_code_fan_out_starts_from_a_fresh_copy_of_its_names(ip):
    run(ip, "xs = [1, 2, 3]")
    code = "seen = 'left' in globals(); left = xs; seen"
    job = run(ip, f"%job_start -b process --each xs --throttle 1 {code}")
    assert job.wait(60)
    assert ipyjobs.receive_job(job) == [False, False, False]
