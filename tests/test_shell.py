"""Code strings and display() inside a real IPython InteractiveShell."""

from __future__ import annotations

import sys

import pytest
from IPython.core.interactiveshell import InteractiveShell

import ipyjobs
from ipyjobs import Stream
from tests.conftest import close_shell


@pytest.fixture
def shell(manager):
    main = sys.modules["__main__"]  # a shell puts its own module there
    shell = InteractiveShell.instance()
    try:
        yield shell
    finally:
        manager.shutdown()  # takes the display routing back off the shell
        close_shell(shell, main)


def test_ipython_syntax_runs_in_the_user_namespace(shell):
    shell.user_ns["y"] = 2
    job = ipyjobs.start_job("%time z = y + 1\nz * 10")
    job.wait(10)
    records = job.receive(raw=True)
    assert [r.value for r in records if r.stream is Stream.OUTPUT] == [30]
    text = "".join(r.value for r in records if r.stream is Stream.STDOUT)
    assert "Wall time" in text  # %time's report was captured by the job
    assert shell.user_ns["z"] == 3


def test_display_in_a_job_is_recorded_and_replayed_on_receive(shell, capsys):
    def show():
        from IPython.display import display

        display({"answer": 42})
        print("after display")

    job = ipyjobs.start_job(show)
    job.wait(10)
    assert capsys.readouterr().out == ""  # nothing reached the cell while it ran
    records = job.receive(raw=True, keep=True)
    assert [r.stream for r in records] == [Stream.DISPLAY, Stream.STDOUT]
    assert records[0].value["data"]["text/plain"] == "{'answer': 42}"
    assert job.receive() == []
    assert capsys.readouterr().out == "{'answer': 42}\nafter display\n"


def test_display_outside_jobs_is_untouched(shell, capsys):
    from IPython.display import display

    ipyjobs.start_job(len, "").wait(5)  # routing is in place
    display("main thread display")
    assert "main thread display" in capsys.readouterr().out


def test_unload_takes_display_routing_off(shell):
    ipyjobs.start_job(len, "").wait(5)
    assert "publish" in vars(shell.display_pub)
    ipyjobs.get_manager().shutdown()
    assert "publish" not in vars(shell.display_pub)
