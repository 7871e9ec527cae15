"""What jobs cost (DESIGN §10): cpu_time and peak_memory, live and final, and %jobs -l."""

from __future__ import annotations

import pytest

import ipyjobs
from ipyjobs import JobState
from tests import process_jobs
from tests.conftest import eventually, run


def test_a_thread_jobs_cpu_time_is_its_threads_and_grows_while_it_runs(manager):
    manager.sampler.interval = 0.1
    job = ipyjobs.start_job(process_jobs.burn, 1.5)
    (child,) = job.child_jobs
    eventually(lambda: (child.cpu_time or 0) > 0.3 and not job.finished, 10)
    job.wait(30)
    assert 1.4 <= job.cpu_time < 3.0, job.cpu_time
    assert job.peak_memory is None  # a thread shares the kernel's memory


def test_a_thread_job_that_waits_uses_no_cpu(manager):
    job = ipyjobs.start_job(__import__("time").sleep, 0.5)
    job.wait(10)
    assert job.cpu_time is not None and job.cpu_time < 0.1


def test_a_process_jobs_cpu_and_peak_memory_are_its_processes(manager):
    manager.sampler.interval = 0.1
    job = ipyjobs.start_job(process_jobs.burn, 1.5, 80, backend="process")
    (child,) = job.child_jobs
    eventually(lambda: (child.cpu_time or 0) > 0.3 and not job.finished, 30)
    assert (child.peak_memory or 0) > 80 << 20  # seen while it runs
    job.wait(30)
    assert job.state is JobState.COMPLETED
    assert 1.4 <= job.cpu_time < 3.0, job.cpu_time
    assert job.peak_memory > 80 << 20


def test_a_fan_out_parent_sums_cpu_and_gives_its_largest_childs_memory(manager):
    job = ipyjobs.start_job(process_jobs.burn, 0.2, each=[0.2, 0.3], backend="process")
    job.wait(30)
    times = [c.cpu_time for c in job.child_jobs]
    assert job.cpu_time == pytest.approx(sum(times))
    assert job.peak_memory == max(c.peak_memory for c in job.child_jobs)


def test_jobs_long_shows_elapsed_cpu_and_memory_and_plain_jobs_does_not(ip):
    run(ip, "import tests.process_jobs as p")
    run(ip, "j = %job_start -b process p.burn(0.2, 20)")
    run(ip, "%job_wait j")
    long_text = ip.display_formatter.format(run(ip, "%jobs -l"))[0]["text/plain"]
    header = long_text.splitlines()[0].split()
    assert header[-4:] == ["Elapsed", "CPU", "Memory", "Command"]
    row = long_text.splitlines()[2]
    assert " s " in row and " MB " in row
    plain = ip.display_formatter.format(run(ip, "%jobs"))[0]["text/plain"]
    assert "CPU" not in plain and "Memory" not in plain and " MB" not in plain
