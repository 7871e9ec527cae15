"""Terminal notices kept in step with the jobs: each told once, nothing kept of removed ones.
(How they look in a real terminal is in test_terminal.py.)"""

from __future__ import annotations

import gc
import sys

import pytest
from IPython.core.interactiveshell import InteractiveShell

from ipyjobs.ipython.notices import TerminalNotices
from tests.conftest import close_shell, eventually


@pytest.fixture
def notices(manager):
    main = sys.modules["__main__"]  # a shell puts its own module there
    shell = InteractiveShell.instance()
    notices = TerminalNotices(shell, manager)  # no prompt_toolkit app: queued, told at cell end
    try:
        yield notices
    finally:
        notices.detach()
        manager.shutdown()  # takes the display routing back off the shell, as it goes
        close_shell(shell, main)


def test_each_end_is_told_once_and_a_removed_job_leaves_nothing(manager, notices, capsys):
    count = 50
    jobs = [manager.start_job(int) for _ in range(count)]
    told: list[str] = []

    def cell_ends() -> bool:
        notices.shell.events.trigger("post_run_cell", None)
        told.extend(capsys.readouterr().out.splitlines())
        return len(told) >= count

    eventually(cell_ends)
    # Looked at again (as a start's check and a callback may both see an end): not retold.
    notices._watch(jobs[0])
    cell_ends()
    assert sorted(told) == sorted(f"[{job.id}] Completed  {job.name}  int()" for job in jobs)

    manager.remove_job(jobs)
    del jobs

    def nothing_kept() -> bool:
        gc.collect()  # a worker may still be leaving its last job's frame
        return len(notices._ended) == 0 and len(notices._prompts_told) == 0

    # Ids kept for ever grew by one a job in a long terminal session.
    eventually(nothing_kept)


def test_each_prompt_is_told_once_and_an_older_one_not_after_a_newer(manager, notices, capsys):
    job = manager.start_job(int)
    job.wait(10)
    child = job.child_jobs[0]
    for number, text in ((1, "first?"), (1, "first?"), (3, "third?"), (2, "second?")):
        notices._notice(child, text, number)  # the callback and a start's check may race
    notices._notice(child, "ended")  # an end is told apart from the prompts
    notices.shell.events.trigger("post_run_cell", None)
    told = capsys.readouterr().out.splitlines()
    assert told.count("first?") == 1 and "third?" in told and "ended" in told
    assert "second?" not in told  # answered already: the third came after it
