"""Terminal IPython through a pty, as a person sees it (notices, capture at the prompt)."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.terminal import IPYTHON, Terminal


@pytest.fixture
def term(tmp_path):
    terminal = Terminal(env={"IPYTHONDIR": str(tmp_path / "ipython")})
    terminal.prompt(1)
    terminal.run("%load_ext ipyjobs", 2)
    terminal.run("import time", 3)
    try:
        yield terminal
    finally:
        terminal.close()


def test_background_statement_returns_the_prompt_and_notices_above_the_input(term):
    term.run("slow = lambda: (time.sleep(1.5), 'done')[1]", 4)
    started = time.monotonic()
    term.run("x = slow() &", 5)
    assert time.monotonic() - started < 1.0  # the prompt came back at once
    term.wait_for(r"^\[1\] Job1$")  # a bound job says its number, as bash does
    term.type("y = 4")  # half-typed when the job ends
    term.wait_for(r"^\[1\] Completed  Job1  slow\(\)$")
    term.wait_for(r"^In \[5\]: y = 4$")  # the input line survived the notice
    lines = term.text().splitlines()
    notice = lines.index("[1] Completed  Job1  slow()")
    assert lines[notice + 1] == "In [5]: y = 4"
    term.run("", 6)
    term.run("y, x.state.value", 7)
    term.wait_for(r"^Out\[6\]: \(4, 'Completed'\)$")


def test_jobs_prints_a_powershell_table(term):
    term.run("j = %job_start -n tab 41 + 1", 4)
    term.run("%job_wait tab", 5)
    term.run("%jobs", 6)
    term.wait_for(r"^Id\s+Name\s+JobType\s+State\s+HasMoreData\s+Location\s+Command$")
    term.wait_for(r"^1\s+tab\s+ThreadJob\s+Completed\s+True\s+localhost\s+41 \+ 1$")


def test_a_job_printing_at_the_prompt_writes_only_to_its_records(term):
    term.run("z = (time.sleep(0.5), print('late line'))[1] &", 4)
    term.wait_for(r"^\[1\] Completed  Job1")  # the print happened while the prompt showed
    assert "late line" not in term.text().splitlines()
    term.run("%job_receive z", 5)
    term.wait_for(r"^late line$")


def test_a_job_ending_during_a_cell_is_noticed_before_the_next_prompt(term):
    term.run("q = time.sleep(0.3) &", 4)
    term.run("time.sleep(1.5)", 5)  # the job ends while this cell runs
    lines = term.text().splitlines()
    assert lines.index("[1] Completed  Job1  time.sleep(0.3)") == lines.index("In [5]:") - 2


def test_notices_can_be_turned_off(term):
    term.run("%config JobManager.notify = False", 4)
    term.run("q = time.sleep(0.2) &", 5)
    term.run("%job_wait q", 6)
    term.run("'after'", 7)
    assert "Completed  Job1" not in term.text().replace("ThreadJob  Completed", "")


def test_ipython_config_file_configures_the_manager(tmp_path):
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "ipython_config.py").write_text(
        "c.InteractiveShellApp.extensions = ['ipyjobs']\n"
        "c.JobManager.stop_grace = 0.5\n"
        "c.JobManager.text_memory_limit = 4096\n"
        "c.JobManager.throttle_limit = 2\n"
        "c.JobManager.update_interval = 0.25\n"
        "c.JobManager.notify = False\n"
    )
    code = (
        "import ipyjobs; m = ipyjobs.get_manager(); "
        "print(m.stop_grace, m.text_memory_limit, m.throttle_limit, m.update_interval, "
        "m.notify, m.default_backend)"
    )
    done = subprocess.run(
        [IPYTHON, f"--profile-dir={profile}", "--no-banner", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"IPYTHONDIR": str(tmp_path / "ipython"), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-6:] == ["0.5", "4096", "2", "0.25", "False", "thread"]


def test_unload_takes_the_event_handlers_and_prompt_hook_out(term):
    term.run(
        "hooks = lambda: (sum('Notices' in repr(f) for e in ('pre_run_cell', 'post_run_cell')"
        " for f in get_ipython().events.callbacks[e]), sum('Notices' in repr(f) for f in"
        " get_ipython().pt_app.app.on_reset._handlers))",
        4,
    )
    term.run("hooks()", 5)
    term.wait_for(r"^Out\[4\]: \(2, 1\)$")
    term.run("%unload_ext ipyjobs", 6)
    term.run("hooks()", 7)
    term.wait_for(r"^Out\[6\]: \(0, 0\)$")
    term.run("%load_ext ipyjobs", 8)
    term.run("hooks()", 9)
    term.wait_for(r"^Out\[8\]: \(2, 1\)$")


def test_a_blocked_job_is_noticed_and_job_receive_asks_its_prompt(term):
    term.run("x = input('name? ') + '!' &", 4)
    term.wait_for(r"^\[1\] Blocked  Job1  name\?$")  # above the prompt, as it happened
    term.type("%job_receive -w x\r")
    term.wait_for(r"^name\? $|^name\?$")  # its output, then the prompt asks here
    term.type("Ann\r")
    term.wait_for(r"^Out\[4\]: 'Ann!'$")
    term.prompt(5)
    lines = term.text().splitlines()
    assert lines.count("name? Ann") == 1 and "Ann" not in lines  # typed once, not echoed


def test_each_prompt_of_a_job_is_noticed(term):
    term.run("x = [input('more? ') for _ in range(2)] &", 4)
    term.wait_for(r"^\[1\] Blocked  Job1  more\?$")
    term.run("%job_input x a", 5)
    term.wait_for(r"(?s)Blocked  Job1  more\?.*Blocked  Job1  more\?")
    term.run("%job_input x b", 6)
    term.wait_for(r"^\[1\] Completed  Job1")
