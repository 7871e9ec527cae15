"""The IPython front end in a real InteractiveShell: load/unload, magics, the `&`."""

from __future__ import annotations

import time

import pytest
from IPython.core.error import UsageError

import ipyjobs
from ipyjobs import Job, JobState
from ipyjobs.ipython.extension import CALL
from ipyjobs.ipython.transformer import transform_ampersand
from tests.conftest import run

MAGICS = {
    "line": {
        "job_start",
        "job_receive",
        "job_wait",
        "jobs",
        "job_stop",
        "job_remove",
        "job_suspend",
        "job_resume",
    },
    "cell": {"job"},
}


def installed(shell) -> dict[str, bool]:
    return {
        "line magics": MAGICS["line"] <= set(shell.magics_manager.magics["line"]),
        "cell magic": MAGICS["cell"] <= set(shell.magics_manager.magics["cell"]),
        "registry": "JobMagics" in shell.magics_manager.registry,
        "transformer": transform_ampersand in shell.input_transformers_cleanup,
        "background call": CALL in shell.user_ns,
        "router": ipyjobs.execution.capture.is_installed(),
        "display routing": "publish" in vars(shell.display_pub),
        "system routing": "system" in vars(shell),
        "configurable": any(type(c).__name__ == "JobManager" for c in shell.configurables),
    }


def test_load_twice_unload_and_load_again(ip):
    # The router too, but not here: without -s, pytest puts its own stdout back over it
    # between the fixture's load and the test (the load below is in the test).
    assert all(v for k, v in installed(ip).items() if k != "router"), installed(ip)
    loaded = ip._ipyjobs
    run(ip, "%load_ext ipyjobs")
    assert ip._ipyjobs is loaded and ip.input_transformers_cleanup.count(transform_ampersand) == 1
    run(ip, "%unload_ext ipyjobs")
    assert not any(installed(ip).values()), installed(ip)
    run(ip, "%load_ext ipyjobs")
    assert all(installed(ip).values()), installed(ip)
    assert isinstance(run(ip, "%job_start 1 + 1"), Job)


def test_help_shows_every_option(ip):
    doc = ip.magics_manager.magics["line"]["job_start"].__doc__
    for option in ("--name", "--backend", "--engines", "--cwd", "--using"):
        assert option in doc
    assert "--keep" in ip.magics_manager.magics["line"]["job_receive"].__doc__


def test_job_start_keeps_the_code_verbatim(ip, capsys):
    job = run(ip, '%job_start -n x print("a  b")')
    assert job.name == "x" and job.command == 'print("a  b")'
    job.wait(5)
    assert run(ip, "%job_receive x") is None
    assert capsys.readouterr().out.endswith("a  b\n")
    assert run(ip, "%job_start --name=y -- -1").result(5) == -1


def test_cell_job_runs_in_the_live_namespace_with_ipython_syntax(ip, capsys):
    ip.user_ns["base"] = 40
    job = run(ip, "%%job -n cell\nanswer = base + 2\n%time small = 1\n!echo hi from shell\nanswer")
    assert job.wait(10) and job.state is JobState.COMPLETED
    assert ip.user_ns["answer"] == 42 and ip.user_ns["small"] == 1
    capsys.readouterr()
    assert run(ip, "%job_receive cell") == 42
    out = capsys.readouterr().out
    assert "Wall time" in out and "hi from shell" in out


def test_receive_returns_one_value_a_list_or_none(ip, capsys):
    ip.user_ns["ipyjobs"] = ipyjobs
    one = run(ip, "%job_start 7")
    many = run(ip, "%job_start for i in range(3): ipyjobs.write_output(i)")
    none = run(ip, "%job_start print('only text')")
    ipyjobs.wait_job(one, many, none)
    assert run(ip, f"%job_receive --keep {one.id}") == 7
    assert run(ip, f"%job_receive {one.id}") == 7
    assert run(ip, f"%job_receive {one.id}") is None
    assert run(ip, f"%job_receive {many.id}") == [0, 1, 2]
    capsys.readouterr()
    assert run(ip, f"%job_receive {none.id}") is None
    assert capsys.readouterr().out == "only text\n"


def test_receive_wait_auto_remove_no_recurse_location(ip):
    ip.user_ns["time"] = time
    job = run(ip, "%job_start -n w time.sleep(0.2); 'waited'")
    assert run(ip, "%job_receive --no-recurse w") is None  # a parent has no records
    assert run(ip, "%job_receive --location localhost --keep w") in (None, "waited")
    assert run(ip, "%job_receive --wait --auto-remove w") == "waited"
    assert job.removed and ipyjobs.get_job() == []


def test_refs_ids_wildcards_and_variables(ip):
    run(ip, "a = %job_start -n fit-a 1")
    run(ip, "b = %job_start -n fit-b 2")
    run(ip, "both = [a, b]")
    run(ip, "%job_wait fit-*")
    assert [j.name for j in run(ip, "%jobs fit-*")] == ["fit-a", "fit-b"]
    assert [j.name for j in run(ip, "%jobs 1")] == ["fit-a"]
    assert [j.name for j in run(ip, "%jobs b")] == ["fit-b"]
    assert run(ip, "%job_receive both") == [1, 2]
    assert [j.name for j in run(ip, "%jobs --state Completed --newest 1")] == ["fit-b"]
    assert len(run(ip, "%jobs --children")) == 4
    run(ip, "%job_remove both")
    assert run(ip, "%jobs") == []


def test_jobs_table_text(ip):
    run(ip, "%job_start -n t 1")
    run(ip, "%job_wait t")
    text = ip.display_formatter.format(run(ip, "%jobs"))[0]["text/plain"]
    assert text.splitlines()[0].split() == [
        "Id",
        "Name",
        "JobType",
        "State",
        "HasMoreData",
        "Location",
        "Command",
    ]
    assert text.splitlines()[2].split() == [
        "1",
        "t",
        "ThreadJob",
        "Completed",
        "True",
        "localhost",
        "1",
    ]


def test_stop_remove_force(ip):
    ip.user_ns["time"] = time
    run(ip, "spin = %job_start -n spin while True: pass")
    with pytest.raises(UsageError, match="running"):
        run(ip, "%job_remove spin")
    assert run(ip, "%job_stop spin")[0].state is JobState.STOPPED
    run(ip, "again = %job_start -n again while True: pass")
    run(ip, "%job_remove --force again")
    run(ip, "%job_remove --all")
    assert run(ip, "%jobs") == []


# -- the trailing & -------------------------------------------------------------------------
def test_assign_a_job_and_return_at_once(ip):
    ip.user_ns["time"] = time
    run(ip, "def slow():\n    time.sleep(0.5)\n    return 'slow done'")
    started = time.perf_counter()
    run(ip, "x = slow() &")
    assert time.perf_counter() - started < 0.1
    job = ip.user_ns["x"]
    assert isinstance(job, Job) and job.command == "slow()"
    assert job.result(5) == "slow done"


def test_expression_job_gives_its_value_on_receive(ip):
    run(ip, "j = 2 + 3 &")
    run(ip, "%job_wait j")
    assert run(ip, "%job_receive j") == 5


def test_bare_expression_shows_the_job_as_the_line_value(ip):
    job = run(ip, "len('abc') &")
    assert isinstance(job, Job) and job.command == "len('abc')"
    assert job.result(5) == 3


def test_attribute_and_item_targets(ip):
    run(ip, "class Box: pass\nbox = Box()\nd = {}")
    run(ip, "box.job = len('ab') &\nd['k'] = len('abc') &")
    assert ip.user_ns["box"].job.result(5) == 2
    assert ip.user_ns["d"]["k"].result(5) == 3


def test_untouched_ampersands_run_normally(ip, capsys):
    run(ip, 'print("a &")\nx = 1  # a &\ny = 6 & 3\nz = (6 &\n 3)\nw = 6 & \\\n 5')
    assert capsys.readouterr().out == "a &\n"
    assert (ip.user_ns["y"], ip.user_ns["z"], ip.user_ns["w"]) == (2, 2, 4)
    assert ipyjobs.get_job() == []


def test_shell_command_runs_as_a_job(ip):
    job = run(ip, "!sleep 0.2 && echo done &")  # no "Background processes not supported"
    assert job is None  # a statement: the line shows no value
    (job,) = ipyjobs.get_job()
    assert job.command == "!sleep 0.2 && echo done"
    job.wait(10)
    assert [r.value for r in job.receive(raw=True)] == ["done\n"]


def test_each_loop_job_sees_its_own_snapshot(ip):
    run(ip, "seen = []\ndef record(i):\n    return i * 10")
    run(ip, "for i in range(3): record(i) &")
    jobs = ipyjobs.get_job()
    assert [job.command for job in jobs] == ["record(i)"] * 3
    assert [job.result(5) for job in jobs] == [0, 10, 20]


def test_snapshot_is_taken_at_start(ip):
    run(ip, "import threading\ngate = threading.Event()\nvalue = 1")
    run(ip, "def later(v):\n    gate.wait(5)\n    return v")
    run(ip, "job = later(value) &")
    run(ip, "value = 2")
    ip.user_ns["gate"].set()
    assert ip.user_ns["job"].result(5) == 1


def test_undefined_name_fails_the_job_not_the_cell(ip):
    job = run(ip, "greet(undefined) &")
    job.wait(5)
    assert job.state is JobState.FAILED and isinstance(job.reason, NameError)


# -- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("%job_receive 99", "no job with id 99"),
        ("%job_receive nosuchjob", "no job named 'nosuchjob'"),
        ("%job_start --bogus 1", "unknown option --bogus"),
        ("%job_start -n", "needs a value"),
        ("%job_wait --timeout abc", "invalid float value"),
        ("%job_wait --timeout -1", "timeout"),
        ("%job_receive --wait --keep", "wait and keep"),
        ("%job_start", "needs code"),
        ("%job_start -b nope 1", "unknown backend 'nope'"),
        ("%job_start x = (", "does not compile"),
        ("%jobs --state Sleeping", "unknown job state"),
        ("%%job extra\n1", "only options"),
        ("&", "needs a one-line statement"),
        ("x = &", "needs a one-line statement"),
        ("%job_start --timeout 0 1", "timeout must be a number of seconds > 0"),
        ("%job_start --timeout nan 1", "timeout must be"),
        ("%job_start --each nosuch 1", "--each names a variable"),
        ("%job_start --throttle 2 1", "throttle= limits a fan-out"),
        ("%job_start -f /no/such/script.py", "no script"),
        ("%job_input", "needs a job"),
        ("%job_input 99 x", "no job with id 99"),
    ],
)
def test_mistakes_give_one_usage_error_and_no_job(ip, cell, message):
    with pytest.raises(UsageError, match=message) as info:
        run(ip, cell)
    assert "\n" not in str(info.value)
    assert ipyjobs.get_job() == []
    assert run(ip, "%job_start 1").id == 1  # no id was used up


def test_removing_a_running_job_without_force_is_a_usage_error(ip):
    run(ip, "spin = %job_start while True: pass")
    with pytest.raises(UsageError, match="cannot remove running"):
        run(ip, "%job_remove spin")
    assert ipyjobs.get_job()[0].state is JobState.RUNNING
    run(ip, "%job_stop spin")


# -- configuration ----------------------------------------------------------------------
def test_config_magic_sets_the_traits(ip):
    run(ip, "%config JobManager.stop_grace = 0.25")
    run(ip, "%config JobManager.throttle_limit = 3")
    run(ip, "%config JobManager.notify = False")
    manager = ipyjobs.get_manager()
    assert (manager.stop_grace, manager.throttle_limit, manager.notify) == (0.25, 3, False)


def test_job_start_runs_a_script_with_its_arguments(ip, tmp_path):
    script = tmp_path / "show.py"
    script.write_text("import sys\nprint(__name__, sys.argv[1:])\n")
    job = run(ip, f"%job_start -f {script} --epochs '3 4'")
    assert job.job_type == "ProcessJob" and job.command == "show.py --epochs '3 4'"
    job.wait(30)
    text = "".join(r.value for r in job.receive(raw=True) if r.stream == "stdout")
    assert text == "__main__ ['--epochs', '3 4']\n"
