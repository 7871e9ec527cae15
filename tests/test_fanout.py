"""Fan-out jobs, time limits and script jobs (DESIGN §10)."""

from __future__ import annotations

import sys
import threading
import time

import pytest

import ipyjobs
from ipyjobs import JobArgumentError, JobState
from ipyjobs.model.errors import JobTimeoutError
from tests import process_jobs
from tests.conftest import eventually

BACKENDS = ["thread", "process"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_child_per_item_outputs_in_item_order_one_failure_fails_the_parent(manager, backend):
    job = ipyjobs.start_job(process_jobs.square_slowly, each=range(9), backend=backend)
    assert [c.location for c in job.child_jobs] == [str(i) for i in range(9)]
    assert [c.id for c in job.child_jobs] == list(range(job.id + 1, job.id + 10))
    job.wait(30)
    assert job.state is JobState.FAILED
    assert isinstance(job.reason, ValueError)
    states = [c.state for c in job.child_jobs]
    assert states.count(JobState.FAILED) == 1 and states[7] is JobState.FAILED
    values = [r.value for r in job.receive(raw=True) if r.stream == "output"]
    assert values == [n * n for n in range(9) if n != 7]  # item order, however they ended


def test_a_throttle_holds_the_rest_not_started_and_runs_them_in_order(manager):
    gates = [threading.Event() for _ in range(5)]
    started: list[int] = []

    def work(i):
        started.append(i)
        gates[i].wait(10)
        return i

    job = ipyjobs.start_job(work, each=range(5), throttle=2)
    eventually(lambda: len(started) == 2)
    assert sorted(started) == [0, 1]
    assert [c.state for c in job.child_jobs[2:]] == [JobState.NOT_STARTED] * 3
    for i in range(3):  # each child that ends lets the next item start, in item order
        gates[i].set()
        eventually(lambda i=i: len(started) == 3 + i)
        assert started[-1] == 2 + i
    for gate in gates:
        gate.set()
    assert job.wait(10) and job.state is JobState.COMPLETED
    assert ipyjobs.receive_job(job) == list(range(5))


def test_a_generator_is_taken_lazily_when_throttled(manager):
    taken: list[int] = []
    release = threading.Event()

    def items():
        for i in range(4):
            taken.append(i)
            yield i

    job = ipyjobs.start_job(lambda i: release.wait(10) and i, each=items(), throttle=1)
    eventually(lambda: job.child_jobs and job.child_jobs[0].state is JobState.RUNNING)
    assert taken == [0] and len(job.child_jobs) == 1
    assert job.state is JobState.RUNNING
    release.set()
    assert job.wait(10) and job.state is JobState.COMPLETED
    assert taken == [0, 1, 2, 3] and len(job.child_jobs) == 4
    assert ipyjobs.receive_job(job) == [0, 1, 2, 3]
    assert ipyjobs.get_job(job.child_jobs[-1].id) == [job.child_jobs[-1]]


def test_stopping_a_fan_out_stops_those_waiting_and_takes_no_more_items(manager):
    def nap(i):
        while True:  # short sleeps: the stop lands between them
            time.sleep(0.01)

    job = ipyjobs.start_job(nap, each=iter(range(100)), throttle=2)
    eventually(lambda: sum(c.state is JobState.RUNNING for c in job.child_jobs) == 2)
    ipyjobs.stop_job(job)
    assert job.state is JobState.STOPPED
    assert len(job.child_jobs) == 2


def test_long_items_are_located_by_index_and_bad_fan_outs_make_no_job(manager):
    job = ipyjobs.start_job(len, each=["short", "x" * 100])
    assert [c.location for c in job.child_jobs] == ["short", "item[1]"]
    job.wait(10)
    before = len(ipyjobs.get_job())
    for bad in ({"each": "abc"}, {"each": []}, {"each": 5}, {"each": [1], "throttle": 0}):
        with pytest.raises(JobArgumentError):
            ipyjobs.start_job(len, **bad)
    with pytest.raises(JobArgumentError, match="throttle"):
        ipyjobs.start_job(len, "x", throttle=2)
    with pytest.raises(JobArgumentError, match="names its item"):
        ipyjobs.start_job("x * 2", each=[1, 2])  # a code string cannot fan out silently
    with pytest.raises(JobArgumentError, match="throttle"):
        ipyjobs.start_job("1 + 1", throttle=2)
    assert len(ipyjobs.get_job()) == before


def test_code_fan_out_binds_the_name_in_each_childs_copy(ip):
    from tests.conftest import run

    run(ip, "files = ['a.csv', 'b.csv']")
    job = run(ip, "%job_start --each files files.upper()")
    job.wait(10)
    assert ipyjobs.receive_job(job) == ["A.CSV", "B.CSV"]
    assert ip.user_ns["files"] == ["a.csv", "b.csv"]  # the user's name is untouched
    job = run(ip, "%job_start -b process --each files --throttle 1 len(files)")
    job.wait(30)
    assert ipyjobs.receive_job(job) == [5, 5]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_job_past_its_time_limit_is_stopped_and_fails_with_a_timeout(manager, backend):
    started = time.monotonic()
    job = ipyjobs.start_job(process_jobs.spin_forever, backend=backend, timeout=0.5)
    job.wait(30)
    assert job.state is JobState.FAILED
    assert isinstance(job.reason, JobTimeoutError) and "0.5 s" in str(job.reason)
    assert time.monotonic() - started < 10
    errors = [r for r in job.receive(raw=True) if r.stream == "error"]
    assert any(isinstance(r.value, JobTimeoutError) for r in errors)


def test_a_job_that_ends_in_time_is_untouched(manager):
    job = ipyjobs.start_job(lambda: 42, timeout=5)
    assert job.result(10) == 42 and job.state is JobState.COMPLETED


def test_a_fan_outs_limit_counts_per_child_from_its_start(manager):
    def work(i):
        time.sleep(0.3)
        return i

    job = ipyjobs.start_job(work, each=range(4), throttle=1, timeout=1.0)
    job.wait(30)
    assert job.state is JobState.COMPLETED  # 1.2 s in all, but each child 0.3 s


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), True, "5"])
def test_bad_time_limits_are_refused_before_any_job_exists(manager, bad):
    with pytest.raises(JobArgumentError, match="timeout"):
        ipyjobs.start_job(int, timeout=bad)
    assert ipyjobs.get_job() == []


def test_a_functions_own_keyword_of_the_same_name_goes_through_kwargs(manager):
    def f(timeout, name="n"):
        return (timeout, name)

    job = ipyjobs.start_job(f, kwargs={"timeout": 3, "name": "mine"}, name="job")
    assert job.result(10) == (3, "mine") and job.name == "job"


SCRIPT = """import sys
print("argv", sys.argv[1:])
if __name__ == "__main__":
    print("main")
"""


@pytest.mark.parametrize("backend", [None, "thread"])
def test_a_script_runs_as_main_with_its_own_argv(manager, tmp_path, backend):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    argv = list(sys.argv)
    options = {} if backend is None else {"backend": backend}
    job = ipyjobs.start_job(file_path=script, args=["--epochs", 3], **options)
    assert job.job_type == ("ProcessJob" if backend is None else "ThreadJob")
    assert job.command == "train.py --epochs 3"
    job.wait(30)
    assert job.state is JobState.COMPLETED, job.receive(raw=True)
    text = "".join(r.value for r in job.receive(raw=True) if r.stream == "stdout")
    assert text == "argv ['--epochs', '3']\nmain\n"
    assert list(sys.argv) == argv  # the kernel's argv is untouched


def test_a_missing_script_is_a_clear_error_and_no_job(manager, tmp_path):
    with pytest.raises(JobArgumentError, match="no script"):
        ipyjobs.start_job(file_path=tmp_path / "nope.py")
    assert ipyjobs.get_job() == []


def test_blocking_children_without_a_throttle_all_run_soon_on_their_own_threads(manager):
    release = threading.Event()
    running = threading.Semaphore(0)

    def wait(i):
        running.release()
        release.wait(30)

    job = ipyjobs.start_job(wait, each=range(200))
    for _ in range(200):  # every child runs at once, each blocking a thread of its own
        assert running.acquire(timeout=10)
    release.set()
    assert job.wait(30) and job.state is JobState.COMPLETED


def test_a_burst_of_short_children_stays_on_a_few_threads(manager):
    job = ipyjobs.start_job(abs, each=range(1000))
    assert job.wait(30) and job.state is JobState.COMPLETED
    assert len(manager.backend("thread").pool.threads()) < 100  # was 679


def test_bursts_one_after_another_reuse_the_workers_they_find(manager):
    """A burst wakes the idle workers and makes threads only while the pool is smaller
    than ThreadPoolExecutor's default: making one for each burst grew the pool by a
    thread per fan-out (12 workers after 8)."""
    from ipyjobs.backends.thread_pool import EAGER_WORKERS

    for _ in range(10):
        job = ipyjobs.start_job(abs, each=range(200))
        assert job.wait(30) and job.state is JobState.COMPLETED
    assert len(manager.backend("thread").pool.threads()) <= EAGER_WORKERS + 2
