"""The Python API around the contract: code strings, as_job, result, callbacks, bad input."""

from __future__ import annotations

import logging
import sys
import threading

import pytest

import ipyjobs
from ipyjobs import JobState


def test_code_string_runs_in_main_namespace_outside_ipython(manager):
    main = sys.modules["__main__"]
    main.base = 20
    try:
        job = ipyjobs.start_job("made = base + 1\nprint('made it')\nmade * 2")
        job.wait(5)
        assert job.command == "made = base + 1\nprint('made it')\nmade * 2"
        assert job.receive() == [42]
        assert main.made == 21
    finally:
        del main.base, main.made


def test_code_string_with_top_level_await(manager):
    job = ipyjobs.start_job("import asyncio\nawait asyncio.sleep(0)\n'awaited'")
    assert job.result(5) == "awaited"


def test_syntax_error_is_raised_at_start_and_no_job_is_made(manager):
    with pytest.raises(SyntaxError):
        ipyjobs.start_job("x = (")
    assert ipyjobs.get_job() == []
    assert ipyjobs.start_job(len, "ab").id == 1


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: ipyjobs.start_job(42), ipyjobs.InvalidJobTargetError),
        (lambda: ipyjobs.start_job(None), TypeError),
        (lambda: ipyjobs.start_job("  "), ipyjobs.JobArgumentError),
        (lambda: ipyjobs.start_job("1", 2), ipyjobs.JobArgumentError),
        (lambda: ipyjobs.start_job(print, name="a*"), ipyjobs.JobArgumentError),
        (lambda: ipyjobs.start_job(print, name="12"), ipyjobs.JobArgumentError),
        (lambda: ipyjobs.start_job(print, backend="nope"), ipyjobs.JobArgumentError),
        (lambda: ipyjobs.wait_job(timeout=-1), ipyjobs.JobArgumentError),
        (lambda: ipyjobs.wait_job(timeout="soon"), ValueError),
        (lambda: ipyjobs.get_job(state="Paused"), ipyjobs.InvalidStateError),
        (lambda: ipyjobs.remove_job(state="Paused"), ValueError),
        (lambda: ipyjobs.remove_job(), ipyjobs.JobArgumentError),
        (lambda: ipyjobs.stop_job(), ipyjobs.JobArgumentError),
        (lambda: ipyjobs.get_job(3.5), ipyjobs.JobArgumentError),
        (lambda: ipyjobs.write_progress(150), ipyjobs.JobArgumentError),
    ],
)
def test_bad_input_raises_one_typed_error_and_uses_no_id(manager, call, error):
    with pytest.raises(error) as info:
        call()
    assert "\n" not in str(info.value)
    assert ipyjobs.get_job() == []
    assert ipyjobs.start_job(len, "ab").id == 1  # the next id was not used up


def test_unknown_state_via_job_result_timeout(manager):
    release = threading.Event()
    job = ipyjobs.start_job(release.wait, 10)
    with pytest.raises(TimeoutError):
        job.result(0.05)
    with pytest.raises(ipyjobs.JobArgumentError):
        job.result(-1)
    release.set()
    assert job.result(5) is True
    assert job.has_more_data  # result() consumed nothing
    assert job.receive() == [True]
    assert job.result(5) is True  # and still answers after a receive


def test_result_of_a_stopped_job_is_an_error(manager):
    started = threading.Event()

    def spin():
        started.set()
        while True:
            pass

    job = ipyjobs.start_job(spin)
    started.wait(5)
    job.stop()
    with pytest.raises(ipyjobs.JobStateError, match="stopped"):
        job.result(1)


def test_as_job_decorator(manager):
    @ipyjobs.as_job
    def square(x):
        return x * x

    assert square(3) == 9
    job = square(4, as_job=True)
    assert isinstance(job, ipyjobs.Job) and job.command.endswith("square(4)")
    assert job.result(5) == 16

    @ipyjobs.as_job(name="cube")
    def cube(x):
        return x**3

    job = cube(2, as_job=True)
    assert job.name == "cube" and job.result(5) == 8


def test_state_callbacks_run_outside_the_lock_and_errors_are_logged(manager, caplog):
    release = threading.Event()
    job = ipyjobs.start_job(release.wait, 10)
    seen = []

    def probe(j, previous, new):
        # Another thread reads the job's state; under the job's lock it would block.
        reader = threading.Thread(target=lambda: seen.append((previous, new, j.state_info)))
        reader.start()
        reader.join(2)
        assert not reader.is_alive()

    def broken(j, previous, new):
        raise RuntimeError("callback bug")

    child = job.child_jobs[0]
    child.add_state_callback(broken)
    child.add_state_callback(probe)
    with caplog.at_level(logging.ERROR, logger="ipyjobs"):
        release.set()
        job.wait(5)
    assert seen and seen[-1][:2] == (JobState.RUNNING, JobState.COMPLETED)
    assert job.state is JobState.COMPLETED
    assert "callback bug" in caplog.text


def test_job_helpers_outside_a_job(capsys):
    assert ipyjobs.current_job() is None
    ipyjobs.check_stop()
    ipyjobs.write_progress(10)
    ipyjobs.write_output({"a": 1})
    assert capsys.readouterr().out == "{'a': 1}\n"


def test_current_job_inside(manager):
    job = ipyjobs.start_job(ipyjobs.current_job)
    assert job.result(5) is job.child_jobs[0]


def test_parent_with_several_children_fails_with_the_failed_childs_reason():
    from ipyjobs import Job

    parent = Job(1, job_type="Test", command="x", location="a, b")
    a = Job(2, job_type="Test", command="x", location="a", parent=parent)
    b = Job(3, job_type="Test", command="x", location="b", parent=parent)
    a.set_state(JobState.RUNNING)
    b.set_state(JobState.RUNNING)
    a.write_output(1)
    error = OSError("engine lost")
    a.set_state(JobState.COMPLETED)
    assert parent.state is JobState.RUNNING
    b.set_state(JobState.FAILED, error)
    assert parent.state is JobState.FAILED and parent.reason is error
    assert [r.value for r in parent.take_records(location="a")] == [1]
