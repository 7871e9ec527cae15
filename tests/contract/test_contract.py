"""What every backend must do (the model, records, receive, capture, the API), run once
per backend."""

from __future__ import annotations

import time
import uuid

import pytest

import ipyjobs
from ipyjobs import JobState, Stream
from tests.conftest import eventually

from . import jobs
from .conftest import JOB_TYPES


def test_start_returns_at_once_with_a_parent_and_one_child(backend, manager, location):
    started = time.perf_counter()
    job = ipyjobs.start_job(jobs.sleeper, 2)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, elapsed  # "at once": the job itself sleeps 2 s
    assert job.state in (JobState.NOT_STARTED, JobState.RUNNING)
    assert len(job.child_jobs) == 1
    child = job.child_jobs[0]
    assert child.parent is job and child.location == location
    assert job.location == location
    ipyjobs.stop_job(job)


def test_ids_names_and_identity(backend, manager):
    first = ipyjobs.start_job(jobs.add, 1, 2, name="fit")
    second = ipyjobs.start_job(jobs.add, 3, 4)
    assert (first.id, first.child_jobs[0].id) == (1, 2)
    assert (second.id, second.child_jobs[0].id) == (3, 4)
    assert first.name == "fit" and second.name == "Job3"
    assert second.child_jobs[0].name == "Job4"
    ids = {first.instance_id, second.instance_id, first.child_jobs[0].instance_id}
    assert len(ids) == 3 and all(isinstance(i, uuid.UUID) for i in ids)
    expected_type = JOB_TYPES[backend]
    assert first.job_type == first.child_jobs[0].job_type == expected_type
    assert first.command == "add(1, 2)"
    ipyjobs.wait_job(first, second)
    assert ipyjobs.receive_job(first) == [3]


def test_output_is_collected_while_the_job_runs_with_nobody_reading(backend, manager, tmp_path):
    """What a running job writes leaves its inbox for its records with no reader asking
    (the collector does it for thread jobs, the reader of the pipe or engine for the
    others): that is what keeps a running job's memory bounded."""
    gate = str(tmp_path / "gate")
    job = ipyjobs.start_job(jobs.gated, gate)
    child = job.child_jobs[0]
    eventually(lambda: child.records.version > 0)  # only a collect changes it
    assert not child.records.pending
    open(gate, "w").close()
    assert job.wait(10)


def test_states_and_times(backend, manager, tmp_path):
    gate = str(tmp_path / "gate")
    seen = []
    job = ipyjobs.start_job(jobs.gated, gate)
    job.add_state_callback(lambda j, old, new: seen.append((old, new)))
    eventually(lambda: job.state is JobState.RUNNING)
    begin = job.begin_time
    assert begin is not None and job.end_time is None
    open(gate, "w").close()
    assert job.wait(10)
    assert job.state is JobState.COMPLETED and job.reason is None
    assert job.state == "Completed" and str(job.state_info) == "Completed"
    assert seen[-1] == (JobState.RUNNING, JobState.COMPLETED)
    assert job.begin_time == begin and job.end_time >= begin
    child = job.child_jobs[0]
    # a finished job never changes state again
    assert not child.set_state(JobState.RUNNING)
    assert child.state is JobState.COMPLETED and job.state is JobState.COMPLETED


def test_failure_has_reason_and_traceback(backend, manager):
    job = ipyjobs.start_job(jobs.fails)
    job.wait(10)
    assert job.state is JobState.FAILED
    assert isinstance(job.reason, KeyError)
    assert isinstance(job.child_jobs[0].reason, KeyError)
    errors = [r for r in ipyjobs.receive_job(job, raw=True) if r.stream is Stream.ERROR]
    assert len(errors) == 1
    assert "Traceback" in errors[0].text and "KeyError: 'missing'" in errors[0].text
    assert 'raise KeyError("missing")' in errors[0].text
    with pytest.raises(KeyError):
        job.result(1)


def test_records_keep_their_order_across_streams(backend, manager, location):
    job = ipyjobs.start_job(jobs.every_stream)
    job.wait(10)
    records = ipyjobs.receive_job(job, raw=True)
    streams = [r.stream for r in records]
    assert streams == [
        Stream.STDOUT,
        Stream.STDERR,
        Stream.WARNING,
        Stream.OUTPUT,
        Stream.PROGRESS,
        Stream.STDOUT,
        Stream.ERROR,
    ]
    values = [r.value for r in records]
    assert values[0] == "out 1\n" and values[1] == "err 1\n"
    assert isinstance(values[2], UserWarning) and "careful" in records[2].text
    assert values[3] == "value 1"
    assert values[4].percent == 50 and values[4].status == "half"
    assert values[5] == "out 2\n" and isinstance(values[6], ValueError)
    assert all(r.job is job.child_jobs[0] and r.location == location for r in records)
    times = [r.time for r in records]
    assert times == sorted(times)


def test_generator_items_and_none_results(backend, manager):
    gen = ipyjobs.start_job(jobs.generator, 3)
    none = ipyjobs.start_job(jobs.returns_none)
    ipyjobs.wait_job(gen, none)
    assert [r.stream for r in ipyjobs.receive_job(gen, raw=True)] == [
        Stream.STDOUT,
        Stream.OUTPUT,
        Stream.STDOUT,
        Stream.OUTPUT,
        Stream.STDOUT,
        Stream.OUTPUT,
    ]
    assert ipyjobs.receive_job(none) == []


def test_receive_removes_unless_kept(backend, manager, capsys):
    job = ipyjobs.start_job(jobs.add, 2, 3)
    job.wait(10)
    assert job.has_more_data
    assert ipyjobs.receive_job(job, keep=True) == [5]
    assert job.has_more_data
    assert ipyjobs.receive_job(job) == [5]
    assert not job.has_more_data
    assert ipyjobs.receive_job(job) == []


def test_receive_running_job_gives_partial_then_new(backend, manager, tmp_path, capsys):
    gate = str(tmp_path / "gate")
    job = ipyjobs.start_job(jobs.gated, gate)
    eventually(lambda: job.has_more_data)
    first = ipyjobs.receive_job(job, raw=True)
    assert [r.value for r in first] == ["before\n"]
    assert job.state is JobState.RUNNING and not job.has_more_data
    open(gate, "w").close()
    job.wait(10)
    second = ipyjobs.receive_job(job, raw=True)
    assert [r.value for r in second] == ["after\n", 42]


def test_receive_replays_text_and_returns_outputs(backend, manager, capsys):
    job = ipyjobs.start_job(jobs.every_stream)
    job.wait(10)
    capsys.readouterr()
    assert ipyjobs.receive_job(job) == ["value 1"]
    out, err = capsys.readouterr()
    assert out == "out 1\nout 2\n"
    assert err.startswith("err 1\n") and "UserWarning: careful" in err
    assert "ValueError: boom" in err


def test_receive_wait_streams_until_finished(backend, manager, tmp_path, capsys):
    job = ipyjobs.start_job(jobs.generator, 5)
    assert ipyjobs.receive_job(job, wait=True) == [0, 1, 2, 3, 4]
    assert job.finished and not job.has_more_data
    assert "making 4" in capsys.readouterr().out


def test_receive_wait_with_timeout_returns_what_arrived(backend, manager, tmp_path, capsys):
    gate = str(tmp_path / "gate")
    job = ipyjobs.start_job(jobs.gated, gate)
    started = time.monotonic()
    assert ipyjobs.receive_job(job, wait=True, timeout=0.3) == []
    assert 0.3 <= time.monotonic() - started < 5
    assert job.state is JobState.RUNNING
    open(gate, "w").close()
    assert ipyjobs.receive_job(job, wait=True, auto_remove=True) == [42]
    assert ipyjobs.get_job() == []


def test_receive_option_errors(backend, manager):
    job = ipyjobs.start_job(jobs.add, 1, 1)
    with pytest.raises(ipyjobs.JobArgumentError, match="wait and keep"):
        ipyjobs.receive_job(job, wait=True, keep=True)
    with pytest.raises(ipyjobs.JobArgumentError, match="auto_remove"):
        ipyjobs.receive_job(job, auto_remove=True)
    with pytest.raises(ipyjobs.JobArgumentError, match="timeout"):
        ipyjobs.receive_job(job, wait=True, timeout=-1)
    with pytest.raises(LookupError, match="nowhere"):
        ipyjobs.receive_job(job, location="nowhere")
    job.wait(10)
    assert ipyjobs.receive_job(job) == [2]  # nothing was consumed by the refusals


def test_parent_receive_no_recurse_and_location(backend, manager, location):
    job = ipyjobs.start_job(jobs.add, 1, 1)
    job.wait(10)
    assert ipyjobs.receive_job(job, no_recurse=True) == []
    assert job.has_more_data
    assert ipyjobs.receive_job(job, location=location, keep=True) == [2]
    assert job.child_jobs[0].receive() == [2]
    assert not job.has_more_data


def test_wait_all_any_and_timeout(backend, manager, tmp_path):
    gate = str(tmp_path / "gate")
    quick = ipyjobs.start_job(jobs.add, 1, 1)
    slow = ipyjobs.start_job(jobs.gated, gate)
    assert ipyjobs.wait_job(quick, slow, any=True, timeout=10) == [quick]
    started = time.monotonic()
    assert ipyjobs.wait_job(quick, slow, timeout=0.2) == [quick]
    assert time.monotonic() - started >= 0.2
    assert slow.state is JobState.RUNNING
    open(gate, "w").close()
    assert ipyjobs.wait_job(quick, slow, timeout=10) == [quick, slow]
    with pytest.raises(ipyjobs.JobArgumentError):
        ipyjobs.wait_job(quick, timeout=-0.5)


def test_check_stop_stops_a_cooperative_job(backend, manager, tmp_path):
    started = str(tmp_path / "started")
    job = ipyjobs.start_job(jobs.cooperative_loop, started)
    jobs.wait_for_file(started)
    seen = []
    job.child_jobs[0].add_state_callback(lambda j, old, new: seen.append(new))
    t0 = time.perf_counter()
    assert ipyjobs.stop_job(job) == [job]
    assert time.perf_counter() - t0 < 1.0
    assert job.state is JobState.STOPPED and job.reason is None
    assert seen == [JobState.STOPPING, JobState.STOPPED]


def test_stop_a_busy_loop_without_checks(backend, manager, tmp_path):
    started = str(tmp_path / "started")
    job = ipyjobs.start_job(jobs.busy_loop, started)
    jobs.wait_for_file(started)
    t0 = time.perf_counter()
    ipyjobs.stop_job(job)
    assert job.state is JobState.STOPPED
    assert time.perf_counter() - t0 < 2.0


def test_stopping_a_finished_job_changes_nothing(backend, manager):
    job = ipyjobs.start_job(jobs.add, 1, 1)
    job.wait(10)
    end = job.end_time
    ipyjobs.stop_job(job)
    assert job.state is JobState.COMPLETED and job.end_time == end
    assert ipyjobs.receive_job(job) == [2]


def test_remove(backend, manager, tmp_path):
    gate = str(tmp_path / "gate")
    running = ipyjobs.start_job(jobs.gated, gate)
    done = ipyjobs.start_job(jobs.add, 1, 1)
    done.wait(10)
    with pytest.raises(ipyjobs.JobStateError, match="running"):
        ipyjobs.remove_job(running, done)
    assert ipyjobs.get_job() == [running, done]  # nothing changed
    with pytest.raises(ipyjobs.JobStateError, match="child"):
        ipyjobs.remove_job(done.child_jobs[0])
    ipyjobs.remove_job(done)
    assert ipyjobs.get_job() == [running]
    assert not done.child_jobs[0].has_more_data  # its records were freed
    with pytest.raises(LookupError):
        ipyjobs.get_job(done.id)
    ipyjobs.remove_job(running, force=True)
    assert running.state is JobState.STOPPED and ipyjobs.get_job() == []


def test_get_job_filters(backend, manager, tmp_path):
    gate = str(tmp_path / "gate")
    fit = ipyjobs.start_job(jobs.add, 1, 2, name="fit-a")
    fit.wait(10)
    middle = fit.end_time
    other = ipyjobs.start_job(jobs.gated, gate, name="other")
    failed = ipyjobs.start_job(jobs.fails, name="fit-b")
    failed.wait(10)
    eventually(lambda: other.has_more_data)
    assert other.receive() == []  # "before" was printed, and is now received
    assert ipyjobs.get_job() == [fit, other, failed]
    assert ipyjobs.get_job("fit*") == [fit, failed]
    assert ipyjobs.get_job("FIT-A") == [fit]
    assert ipyjobs.get_job(fit.id, "other") == [fit, other]
    assert ipyjobs.get_job(3) == [other]
    assert ipyjobs.get_job(name="fit-?") == [fit, failed]
    assert ipyjobs.get_job(state="Running") == [other]
    assert ipyjobs.get_job(state="failed") == [failed]
    assert ipyjobs.get_job(command="add*") == [fit]
    assert ipyjobs.get_job(newest=2) == [other, failed]
    assert ipyjobs.get_job(has_more_data=True) == [fit, failed]
    assert ipyjobs.get_job(include_children=True) == [
        fit,
        fit.child_jobs[0],
        other,
        other.child_jobs[0],
        failed,
        failed.child_jobs[0],
    ]
    assert ipyjobs.get_job(fit.child_jobs[0].id) == fit.child_jobs
    assert ipyjobs.get_job(after=middle) == [failed]
    assert ipyjobs.get_job(before=failed.end_time) == [fit]
    assert ipyjobs.get_job("nomatch*") == []
    with pytest.raises(ipyjobs.JobNotFoundError, match="'ghost'"):
        ipyjobs.get_job("ghost")
    with pytest.raises(LookupError, match="99"):
        ipyjobs.get_job(99)
    with pytest.raises(ipyjobs.InvalidStateError, match="Sleeping"):
        ipyjobs.get_job(state="Sleeping")
    open(gate, "w").close()
