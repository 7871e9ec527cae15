"""Dask jobs (DESIGN §15) on a real LocalCluster of two worker processes (one thread
each, no dashboard) that the session starts on 127.0.0.1; the contract suite runs on it
too (tests/contract)."""

from __future__ import annotations

import itertools
import os
import signal
import sys

import pytest

import ipyjobs
from ipyjobs import DaskUnavailableError, JobArgumentError, JobState, Stream
from tests import dask_jobs
from tests.conftest import eventually, run


def test_any_worker_names_the_worker_that_runs_it(dask):
    job = ipyjobs.start_job(dask_jobs.ticks, 3, 0.01, backend="dask", name="t")
    assert job.job_type == "RemoteJob" and job.result(30) == 3
    (child,) = job.child_jobs
    assert child.location in ("0", "1")
    assert job.location == "dask"  # the job's text does not change with where it ran
    assert child.cpu_time is not None and child.peak_memory and child.peak_memory > 1e6


def test_all_workers_and_named_workers(dask):
    job = ipyjobs.start_job(dask_jobs.square, 3, workers="all")
    assert [c.location for c in job.child_jobs] == ["0", "1"]
    assert ipyjobs.receive_job(job, wait=True) == [9, 9]
    job = ipyjobs.start_job(dask_jobs.square, 4, workers=["1"])
    assert [c.location for c in job.child_jobs] == ["1"] and job.result(30) == 16
    with pytest.raises(JobArgumentError, match="no worker 'nine': the cluster's workers are 0, 1"):
        ipyjobs.start_job(dask_jobs.square, 1, workers="nine")
    assert len(ipyjobs.get_job()) == 2  # the refused one made no job


def test_a_fan_out_returns_in_item_order_two_at_a_time(dask):
    job = ipyjobs.start_job(dask_jobs.square, each=range(40), backend="dask")
    assert job.wait(60) and job.state is JobState.COMPLETED
    assert ipyjobs.receive_job(job) == [n * n for n in range(40)]
    assert ipyjobs.get_manager().fan_out_of(job.child_jobs[0]) is None  # it ended
    assert {c.location for c in job.child_jobs} <= {str(n) for n in range(40)}


def test_an_explicit_throttle_is_kept_though_the_cluster_has_more_threads(dask):
    job = ipyjobs.start_job(dask_jobs.span, each=[0.1] * 6, backend="dask", throttle=1)
    spans = sorted(ipyjobs.receive_job(job, wait=True))
    assert len(spans) == 6
    assert all(end <= began for (_, end), (began, _) in itertools.pairwise(spans))


def test_stopping_a_large_fan_out_tells_the_workers_in_a_few_calls(dask, manager, monkeypatch):
    """Its children are submitted at once (Dask's scheduler holds the default
    throttle), so a stop reaches hundreds of queued tasks: a call per worker and
    step, not per child, and none of them runs afterwards."""
    manager.stop_grace = 0.3
    calls = []
    real_run = dask.run
    monkeypatch.setattr(dask, "run", lambda *a, **k: calls.append(a) or real_run(*a, **k))
    job = ipyjobs.start_job(dask_jobs.ticks, 0.05, each=[1000] * 300, backend="dask")
    eventually(lambda: sum(c.state is JobState.RUNNING for c in job.child_jobs) == 2, 30)
    ipyjobs.stop_job(job)
    assert job.wait(30) and job.state is JobState.STOPPED
    assert {c.state for c in job.child_jobs} == {JobState.STOPPED}
    ran = [c for c in job.child_jobs if "tick 0" in c.records.tail]
    assert len(ran) == 2  # the rest never ran
    assert 1 <= len(calls) <= 5  # (a call per child: 300)
    again = ipyjobs.start_job(dask_jobs.square, 5, workers="all")
    assert ipyjobs.receive_job(again, wait=True) == [25, 25]


def test_prints_stream_to_the_kernel_while_the_task_runs(dask):
    job = ipyjobs.start_job(dask_jobs.ticks, 30, 0.1, backend="dask")
    (child,) = job.child_jobs
    eventually(lambda: "tick 2" in child.records.tail, 20)
    assert not job.finished  # seen while it ran, not at its end
    assert ipyjobs.receive_job(job) == []  # what it printed so far, no value yet
    job.wait(30)
    text = "".join(r.value for r in job.receive(raw=True) if r.stream is Stream.STDOUT)
    assert text.endswith("tick 29\n") and "tick 0" not in text  # the rest, once


def test_a_cell_jobs_failure_shows_its_line_and_reads_the_names_it_uses(ip, dask):
    run(ip, "factor = 21")
    job = run(ip, "%%job -b dask\nvalue = factor * 2\nraise ValueError(f'bad {value}')")
    job.wait(30)
    assert job.state is JobState.FAILED and str(job.reason) == "bad 42"
    (error,) = [r for r in job.receive(raw=True) if r.stream is Stream.ERROR]
    assert "raise ValueError(f'bad {value}')" in error.text and "Cell In[" in error.text


def test_stop_climbs_the_ladder_to_a_worker_restart(dask, manager, tmp_path):
    manager.stop_grace = 0.3
    job = ipyjobs.start_job(dask_jobs.busy, backend="dask")  # no check_stop: step 2
    eventually(lambda: job.state is JobState.RUNNING, 30)
    ipyjobs.stop_job(job)
    assert job.state is JobState.STOPPED
    stuck = ipyjobs.start_job(dask_jobs.stuck_in_c, backend="dask")
    eventually(lambda: stuck.state is JobState.RUNNING, 30)
    ipyjobs.stop_job(stuck)
    assert stuck.wait(60) and stuck.state is JobState.STOPPED  # once the worker is back
    (warning,) = [r for r in stuck.receive(raw=True) if r.stream is Stream.WARNING]
    assert "was restarted to stop it" in warning.text
    dask.wait_for_workers(2, timeout=60)  # the restarted worker serves the next job
    again = ipyjobs.start_job(dask_jobs.square, 5, workers="all")
    assert ipyjobs.receive_job(again, wait=True) == [25, 25]


def test_restarting_a_worker_to_stop_one_child_spares_the_children_queued_there(dask, manager):
    """The worker is sealed before its restart: the tasks Dask had sent it that had not
    begun never begin there, so they are not lost with it but run elsewhere."""
    manager.stop_grace = 0.3
    job = ipyjobs.start_job(dask_jobs.stuck_first, each=range(40), backend="dask")
    first = job.child_jobs[0]
    eventually(lambda: first.state is JobState.RUNNING, 30)
    ipyjobs.stop_job(first)
    assert first.wait(60) and first.state is JobState.STOPPED
    assert job.wait(60)
    assert [c.state for c in job.child_jobs[1:]] == [JobState.COMPLETED] * 39
    assert ipyjobs.receive_job(job) == list(range(1, 40))


def test_a_time_limit_fails_a_task_that_runs_past_it(dask, manager):
    manager.stop_grace = 0.3
    job = ipyjobs.start_job(dask_jobs.busy, backend="dask", timeout=0.5)
    assert job.wait(30) and job.state is JobState.FAILED
    assert type(job.reason).__name__ == "JobTimeoutError"


def test_a_worker_that_dies_under_a_task_fails_it_naming_the_worker(dask, tmp_path):
    started = tmp_path / "started"
    job = ipyjobs.start_job(dask_jobs.touch_then_spin, str(started), workers=["1"])
    eventually(started.exists, 30)
    behind = ipyjobs.start_job(dask_jobs.square, 3, workers=["1"])  # waits for job
    workers = {w["name"]: a for a, w in dask.scheduler_info()["workers"].items()}
    pid = dask.run(dask_jobs.worker_pid, workers=[workers[1]])[workers[1]]
    os.kill(pid, signal.SIGKILL)
    assert job.wait(60) and job.state is JobState.FAILED
    assert "worker 1" in str(job.reason) and "left the cluster" in str(job.reason)
    # Pinned to the worker that left (it comes back at a new address), the job waiting
    # for it fails too, rather than wait for ever.
    assert behind.wait(60) and behind.state is JobState.FAILED
    assert "worker 1 (tcp://" in str(behind.reason) and "left the cluster" in str(behind.reason)


def test_no_cluster_no_distributed_and_detach_are_refused_in_one_line(manager, monkeypatch):
    with pytest.raises(DaskUnavailableError, match="dask_address"):
        ipyjobs.start_job(dask_jobs.square, 2, backend="dask")
    manager.dask_address = "tcp://127.0.0.1:9"  # nothing answers there
    with pytest.raises(DaskUnavailableError, match="no Dask scheduler answers at tcp://127"):
        ipyjobs.start_job(dask_jobs.square, 2, backend="dask")
    with pytest.raises(JobArgumentError, match="cannot run on Dask"):
        ipyjobs.start_job(dask_jobs.square, 2, workers="any", detach=True)
    monkeypatch.setitem(sys.modules, "distributed", None)
    manager.dask_address = "tcp://127.0.0.1:8786"
    with pytest.raises(DaskUnavailableError, match=r"pip install 'ipyjobs\[dask\]'"):
        ipyjobs.start_job(dask_jobs.square, 2, backend="dask")
    assert ipyjobs.get_job() == []


def test_a_cluster_that_goes_away_fails_its_running_job_in_one_line(manager):
    from tests.conftest import local_cluster

    clusters = local_cluster(1, 1)
    process, client = next(clusters)
    manager.dask_client = client
    job = ipyjobs.start_job(dask_jobs.ticks, 1000, 0.05, backend="dask", name="orphan")
    eventually(lambda: job.state is JobState.RUNNING, 30)
    process.stdin.close()  # the cluster closes
    assert job.wait(60) and job.state is JobState.FAILED
    assert "left the cluster" in str(job.reason) and "\n" not in str(job.reason)
    clusters.close()
