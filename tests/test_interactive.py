"""Interactive jobs (DESIGN §9): ``input()`` and ``getpass()`` in a job make it Blocked
until ``send_input`` answers, in thread and process jobs alike."""

from __future__ import annotations

import builtins
import getpass
import io
import sys

import pytest

import ipyjobs
from ipyjobs import JobArgumentError, JobState, JobStateError
from tests import process_jobs

BACKENDS = ["thread", "process"]


def blocked(job, prompt: str) -> None:
    """Wait (on state changes) until ``job`` asks ``prompt``."""
    while not (job.state is JobState.BLOCKED and job.prompt == prompt):
        assert not job.finished, job.receive(raw=True)
        ipyjobs.wait_job(job, timeout=10)
        if job.state is JobState.BLOCKED and job.prompt != prompt:
            pytest.fail(f"{job.name} asks {job.prompt!r}, not {prompt!r}")


def stdout_of(job) -> str:
    return "".join(r.value for r in job.receive(raw=True, keep=True) if r.stream == "stdout")


@pytest.mark.parametrize("backend", BACKENDS)
def test_input_blocks_the_job_until_it_is_answered(manager, backend):
    job = ipyjobs.start_job(process_jobs.greet, backend=backend)
    (child,) = job.child_jobs
    assert ipyjobs.wait_job(job, timeout=10) == [job]  # a Blocked job ends a wait
    blocked(job, "name? ")
    assert child.state is JobState.BLOCKED and child.prompt == "name? "
    assert stdout_of(job) == "name? "  # written as input() writes it
    job.send_input("Ann")  # on the parent: answers its blocked child
    assert job.state is not JobState.BLOCKED or job.prompt == "token? "
    blocked(job, "token? ")
    assert job.prompt_is_secret
    child.send_input("s3cret")
    assert job.result(10) == "Ann"
    assert job.prompt is None and child.prompt is None
    # The answer to input() is echoed as a terminal shows it; the secret never is.
    assert stdout_of(job) == "name? Ann\ntoken? \nhello Ann (6)\n"


@pytest.mark.parametrize("backend", BACKENDS)
def test_answering_a_job_that_does_not_ask_is_a_state_error(manager, backend):
    job = ipyjobs.start_job(process_jobs.greet, backend=backend)
    blocked(job, "name? ")
    with pytest.raises(JobArgumentError):
        job.send_input(42)
    job.send_input("Ann")
    blocked(job, "token? ")
    job.send_input("x")
    job.wait(10)
    with pytest.raises(JobStateError, match="not Blocked"):
        job.send_input("too late")
    with pytest.raises(JobStateError, match="not Blocked"):
        ipyjobs.send_input(job.id, "too late")


@pytest.mark.parametrize("backend", BACKENDS)
def test_stopping_a_blocked_job_stops_it(manager, backend):
    job = ipyjobs.start_job(process_jobs.ask_forever, backend=backend)
    blocked(job, "more? ")
    ipyjobs.stop_job(job)
    assert job.state is JobState.STOPPED
    assert job.prompt is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_many_prompts_in_a_row_each_wait_for_their_answer(manager, backend):
    def count(n):
        return sum(int(input(f"{i}? ")) for i in range(n))

    job = ipyjobs.start_job(count, 5, backend=backend)
    for i in range(5):
        blocked(job, f"{i}? ")
        job.send_input(str(i * 10))
    assert job.result(10) == 100


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_answer_is_taken_once(manager, backend, tmp_path):
    gate = tmp_path / "gate"
    job = ipyjobs.start_job(process_jobs.ask_then_wait, str(gate), backend=backend)
    blocked(job, "once? ")
    job.send_input("a")
    assert job.state is JobState.RUNNING  # at once: the job is no longer Blocked
    with pytest.raises(JobStateError, match="Running, not Blocked"):
        job.send_input("b")
    gate.touch()
    assert job.result(10) == "a"


def test_receive_with_wait_returns_when_the_job_asks(manager):
    job = ipyjobs.start_job(process_jobs.greet)
    assert ipyjobs.receive_job(job, wait=True, timeout=30) == []
    assert job.state is JobState.BLOCKED
    job.send_input("Ann")
    blocked(job, "token? ")
    job.send_input("t")
    assert ipyjobs.receive_job(job, wait=True, timeout=30) == ["Ann"]


def test_input_outside_a_job_still_reads_stdin(manager, monkeypatch):
    ipyjobs.start_job(int).wait(10)  # the routing is in place
    assert hasattr(builtins.input, "ipyjobs_original")
    assert hasattr(getpass.getpass, "ipyjobs_original")
    monkeypatch.setattr(sys, "stdin", io.StringIO("typed\n"))
    assert input() == "typed"


def test_a_remote_style_stand_in_without_an_asker_gets_eof(manager):
    from ipyjobs.backends.shipping import StandInJob
    from ipyjobs.execution.capture import job_context

    ipyjobs.start_job(int).wait(10)  # the routing is in place
    job = StandInJob("Job9", "engine 0")
    with job_context(job), pytest.raises(EOFError, match="cannot ask for input"):
        input("name? ")
    assert job.records.pending == ["name? "]
