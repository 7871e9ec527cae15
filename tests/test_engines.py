"""Remote jobs on a real local ipyparallel cluster (two engines, started once per session):
one child per engine, copied names, live records, failures, stops, a lost engine and the
errors a user can make."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

import pytest
from IPython.core.error import UsageError

import ipyjobs
from ipyjobs import JobState, Stream
from ipyjobs.backends.engines import EngineLost
from tests import engine_jobs
from tests.conftest import eventually, run

HOST = socket.gethostname()


@pytest.fixture
def client(engines_cluster, manager):
    """The session cluster's client, given to the test's manager."""
    _, connected = engines_cluster
    manager.engines_client = connected
    return connected


@pytest.fixture
def shell(engines_cluster, ip):
    """A real shell whose JobManager finds the session cluster by its cluster id."""
    cluster, _ = engines_cluster
    run(ip, f"%config JobManager.engines_cluster_id = {cluster.cluster_id!r}")
    return ip


def test_a_cell_runs_on_every_engine_with_a_child_each(shell):
    run(shell, "factor = 21")
    job = run(shell, "%%job -e all\nimport os\nfactor * 2")
    assert job.job_type == "RemoteJob" and job.command == "import os\nfactor * 2"
    assert (job.id, [child.id for child in job.child_jobs]) == (1, [2, 3])
    assert [child.location for child in job.child_jobs] == [f"engine0@{HOST}", f"engine1@{HOST}"]
    assert job.location == f"engine0@{HOST}, engine1@{HOST}"
    assert job.wait(30) and job.state is JobState.COMPLETED
    table = shell.display_formatter.format(run(shell, "%jobs --children"))[0]["text/plain"]
    for child in job.child_jobs:
        assert f"{child.id}" in table and child.location in table
    assert run(shell, "%job_receive 1") == [42, 42]


def test_names_are_pushed_to_the_engines_and_what_the_code_assigns_stays(shell, engines_cluster):
    _, client = engines_cluster
    run(shell, "base_t2 = 20\nunused_t2 = 'not sent'")
    job = run(shell, "%%job -e 0\nresult_t2 = base_t2 + 2\nresult_t2")
    assert job.result(30) == 22
    assert client[0]["result_t2"] == 22  # assigned on the engine, as %px code would
    explicit = run(
        shell, "%job_start -e 1 --using base_t2 globals().get('unused_t2', 'absent'), base_t2"
    )
    assert explicit.result(30) == ("absent", 20)


def test_records_arrive_while_the_children_run(client, tmp_path):
    gate = tmp_path / "gate"
    job = ipyjobs.start_job(engine_jobs.gated_ticks, str(gate), engines="all")
    eventually(lambda: all(child.has_output for child in job.child_jobs), 30)
    assert job.state is JobState.RUNNING
    first = job.receive(raw=True)
    assert [(r.location, r.stream, r.value) for r in first] == [
        (f"engine0@{HOST}", Stream.STDOUT, "tick 1 from 0\n"),
        (f"engine0@{HOST}", Stream.OUTPUT, 0),
        (f"engine1@{HOST}", Stream.STDOUT, "tick 1 from 1\n"),
        (f"engine1@{HOST}", Stream.OUTPUT, 1),
    ]
    assert all(r.job is job.child_jobs[int(r.location[6])] for r in first)
    gate.touch()
    assert job.wait(30)
    assert job.receive(location=f"engine1@{HOST}", keep=True) == ["done"]
    records = job.receive(raw=True)
    assert [(r.location, r.value) for r in records] == [
        (f"engine0@{HOST}", "tick 2 from 0\n"),
        (f"engine0@{HOST}", "done"),
        (f"engine1@{HOST}", "tick 2 from 1\n"),
        (f"engine1@{HOST}", "done"),
    ]


def test_a_job_shorter_than_the_first_flush_still_passes_through_running(client):
    job = ipyjobs.start_job(engine_jobs.pid, engines=[0])
    child = job.child_jobs[0]
    seen = []
    child.add_state_callback(lambda j, old, new: seen.append(new))
    assert job.wait(30)
    assert seen[-2:] == [JobState.RUNNING, JobState.COMPLETED]
    assert child.begin_time is not None and child.begin_time <= child.end_time


def test_the_client_keeps_no_copy_of_a_finished_task(client):
    before = set(client.results) | set(client.metadata)
    job = ipyjobs.start_job(engine_jobs.pid, engines=[0])
    assert job.wait(30) and job.receive()
    assert set(client.results) | set(client.metadata) == before


def test_one_engine_failing_fails_its_child_and_the_parent(client):
    job = ipyjobs.start_job(engine_jobs.fails_on_engine_1, engines="all")
    job.wait(30)
    ok, failed = job.child_jobs
    assert (ok.state, failed.state, job.state) == (
        JobState.COMPLETED,
        JobState.FAILED,
        JobState.FAILED,
    )
    assert isinstance(failed.reason, ValueError) and job.reason is failed.reason
    records = job.receive(raw=True)
    assert [r.value for r in records if r.stream is Stream.OUTPUT] == ["ok from 0"]
    (error,) = [r for r in records if r.stream is Stream.ERROR]
    assert error.location == failed.location
    assert 'raise ValueError("engine 1 fails")' in error.text  # the remote traceback
    assert error.text.rstrip().endswith("ValueError: engine 1 fails")


def test_stop_interrupts_the_running_children(client, tmp_path):
    started = str(tmp_path / "started")
    job = ipyjobs.start_job(
        engine_jobs.touch_then_wait, started, str(tmp_path / "never"), engines="all"
    )
    eventually(lambda: os.path.exists(started + "0") and os.path.exists(started + "1"), 30)
    begun = time.monotonic()
    ipyjobs.stop_job(job)
    assert time.monotonic() - begun < 2
    assert [child.state for child in job.child_jobs] == [JobState.STOPPED] * 2
    assert job.state is JobState.STOPPED
    assert len(client[:].apply_sync(engine_jobs.pid)) == 2  # both engines are free again


def test_stopping_a_queued_job_aborts_it_on_its_engine(client, tmp_path):
    started, gate, marker = (str(tmp_path / name) for name in ("started", "gate", "ran"))
    busy = ipyjobs.start_job(engine_jobs.touch_then_wait, started, gate, engines=[0])
    eventually(lambda: os.path.exists(started + "0"), 30)
    queued = ipyjobs.start_job(engine_jobs.mark, marker, engines=[0])
    assert queued.state is JobState.NOT_STARTED
    ipyjobs.stop_job(queued)
    assert queued.state is JobState.STOPPED
    open(gate, "w").close()
    assert busy.result(30) > 0
    assert ipyjobs.start_job(engine_jobs.pid, engines=[0]).result(30) > 0  # ran after it
    assert not os.path.exists(marker)  # the aborted job never ran


def test_an_engine_killed_mid_job_fails_its_child_only(engines_cluster, client, tmp_path):
    cluster, _ = engines_cluster
    before = set(client.ids)
    cluster.start_engines_sync(n=1)
    client.wait_for_engines(len(before) + 1, timeout=60)
    (extra,) = set(client.ids) - before
    victim = client[extra].apply_sync(engine_jobs.pid)
    started, gate = str(tmp_path / "started"), str(tmp_path / "gate")
    job = ipyjobs.start_job(engine_jobs.touch_then_wait, started, gate, engines=[0, extra])
    eventually(lambda: os.path.exists(started + "0") and os.path.exists(started + str(extra)))
    os.kill(victim, signal.SIGKILL)
    survivor, lost = job.child_jobs
    eventually(lambda: lost.finished, 30)
    assert lost.state is JobState.FAILED and isinstance(lost.reason, EngineLost)
    assert f"engine {extra}" in str(lost.reason) and "was lost" in str(lost.reason)
    assert survivor.state is JobState.RUNNING and job.state is JobState.RUNNING
    open(gate, "w").close()
    assert job.wait(30)
    assert survivor.state is JobState.COMPLETED and job.state is JobState.FAILED
    assert job.receive(location=survivor.location) == [client[0].apply_sync(engine_jobs.pid)]
    eventually(lambda: extra not in client.ids, 30)


def test_working_directory_is_the_kernels_or_cwd_and_the_engines_own_comes_back(client, tmp_path):
    engine_cwd = client[0].apply_sync(os.getcwd)
    assert ipyjobs.start_job(engine_jobs.where, engines=[0]).result(30) == os.getcwd()
    chosen = ipyjobs.start_job(engine_jobs.where, engines=[0], cwd=str(tmp_path))
    assert chosen.result(30) == str(tmp_path)
    assert client[0].apply_sync(os.getcwd) == engine_cwd


def test_a_cluster_object_can_be_given_instead_of_a_client(engines_cluster, manager):
    cluster, client = engines_cluster
    manager.engines_client = cluster
    job = ipyjobs.start_job(engine_jobs.pid, engines="all")
    assert job.wait(30)
    assert sorted(job.receive()) == sorted(client[:].apply_sync(engine_jobs.pid))


def test_remote_jobs_cannot_be_suspended(client, tmp_path):
    started, gate = str(tmp_path / "started"), str(tmp_path / "gate")
    job = ipyjobs.start_job(engine_jobs.touch_then_wait, started, gate, engines=[1])
    eventually(lambda: os.path.exists(started + "1"), 30)
    with pytest.raises(ipyjobs.JobStateError, match="cannot be suspended"):
        ipyjobs.suspend_job(job)
    open(gate, "w").close()
    assert job.wait(30) and job.state is JobState.COMPLETED


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("-e 7", r"no engine 7: the cluster's engines are 0, 1"),
        ("-e abc", r"engines are 'all', 'any' or ids like 0,2, not 'abc'"),
        ("-e 0,0", "names an engine twice"),
        ("-b thread -e 0", "engines= needs the engines backend"),
    ],
)
def test_bad_engines_give_one_usage_error_and_no_job(shell, options, message):
    with pytest.raises(UsageError, match=message):
        run(shell, f"%job_start {options} 1 + 1")
    assert ipyjobs.get_job() == []
    assert run(shell, "%job_start -e 0 1 + 1").id == 1  # no id was used up


def test_no_cluster_running_says_how_to_start_one(ip):
    run(ip, "%config JobManager.engines_profile = 'ipyjobs-no-such-profile'")
    with pytest.raises(UsageError, match=r"no ipyparallel cluster is running.*ipcluster start"):
        run(ip, "%job_start -e all 1 + 1")
    assert ipyjobs.get_job() == []


def test_engines_without_ipyparallel_installed(ip, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipyparallel", None)  # import ipyparallel fails
    with pytest.raises(UsageError, match=r"need ipyparallel: pip install 'ipyjobs\[engines\]'"):
        run(ip, "%job_start -e all 1 + 1")
    assert ipyjobs.get_job() == []


def test_a_closed_client_is_refused_with_one_line(engines_cluster, manager):
    cluster, _ = engines_cluster
    closed = cluster.connect_client_sync()
    closed.close()
    manager.engines_client = closed
    with pytest.raises(ipyjobs.EnginesUnavailableError, match="closed ipyparallel Client"):
        ipyjobs.start_job(engine_jobs.pid, engines="all")
    assert ipyjobs.get_job() == []


def test_a_client_given_after_another_was_closed_is_the_one_used(engines_cluster, manager):
    cluster, _ = engines_cluster
    first = cluster.connect_client_sync()
    manager.engines_client = first
    assert ipyjobs.start_job(engine_jobs.pid, engines=[0]).result(30) > 0
    first.close()
    second = cluster.connect_client_sync()
    try:
        manager.engines_client = second
        assert ipyjobs.start_job(engine_jobs.pid, engines=[0]).result(30) > 0
    finally:
        manager.shutdown()  # before the client goes: its tasks are followed until then
        second.close()


def test_a_fan_out_runs_one_child_per_item_over_the_engines(client):
    job = ipyjobs.start_job(engine_jobs.which_engine, each=["a", "b", "c", "d"], engines="all")
    assert [c.location for c in job.child_jobs] == ["a", "b", "c", "d"]
    job.wait(60)
    assert job.state is JobState.COMPLETED
    values = job.receive()
    assert [item for item, _ in values] == ["a", "b", "c", "d"]  # item order
    assert len({pid for _, pid in values}) == 2  # both engines took items (one each at once)


def test_a_remote_job_past_its_time_limit_fails_with_a_timeout(client):
    job = ipyjobs.start_job(engine_jobs.spin_on_engine, engines=0, timeout=0.5)
    job.wait(60)
    assert job.state is JobState.FAILED
    assert isinstance(job.reason, ipyjobs.JobTimeoutError)


def test_a_remote_jobs_cpu_and_memory_are_reported_while_it_runs(client):
    from tests import process_jobs

    job = ipyjobs.start_job(process_jobs.burn, 2.5, 30, engines=0)
    (child,) = job.child_jobs
    eventually(lambda: (child.cpu_time or 0) > 0.5 and not job.finished, 30)
    job.wait(60)
    assert job.state is JobState.COMPLETED
    assert 2.4 <= job.cpu_time < 5 and job.peak_memory > 30 << 20


def test_a_remote_job_notifies_once_for_the_job_the_user_started(client, manager):
    from tests.receivers import HttpReceiver

    http = HttpReceiver()
    try:
        job = ipyjobs.start_job(lambda: 6 * 7, engines="all", name="remote", notify=http.url())
        assert job.wait(60) and len(job.child_jobs) == 2
        (sent,) = http.wait_for(1, 30)
        assert sent["body"]["title"] == "remote Completed"
        manager.notifier.deliverer.close()
        assert len(http.items) == 1  # two children, one notification
    finally:
        http.close()
