"""Notifications (DESIGN §13), delivered for real to servers on 127.0.0.1 that the tests
start: an HTTP server for ``json://`` and ``ntfy://``, an SMTP server for ``mailto://``."""

from __future__ import annotations

import logging
import os
import socket
import stat
import subprocess
import sys

import pytest
from IPython.utils.capture import capture_output

import ipyjobs
from ipyjobs import JobState, NotifyError
from tests.conftest import eventually, run
from tests.receivers import HttpReceiver, SmtpReceiver

SECRET = "s3cr3t-t0ken"


@pytest.fixture
def http():
    receiver = HttpReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture
def smtp():
    receiver = SmtpReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


def ask_twice():
    name = input("name? ")
    print("hello", name)
    return name


def test_a_completed_thread_job_notifies_once_with_what_it_printed(manager, http):
    def work():
        for n in range(8):
            print("line", n)
        return 42

    job = ipyjobs.start_job(work, name="train", notify=http.url())
    assert job.wait(10)
    ((sent),) = http.wait_for(1)
    body = sent["body"]
    assert body["title"] == "train Completed" and body["type"] == "success"
    lines = body["message"].split("\n")
    assert lines[0].startswith(f"Job {job.id} (train) Completed after ")
    assert lines[1:7] == ["Last output:"] + [f"  line {n}" for n in range(3, 8)]  # the last 5
    assert lines[-1] == f"Host: {socket.gethostname()} · Folder: {os.getcwd()}"
    manager.notifier.deliverer.close()
    assert len(http.items) == 1  # one event, one notification


def test_failed_and_stopped_say_why_with_their_types(manager, http):
    failed = ipyjobs.start_job(lambda: 1 / 0, name="bad", notify=http.url())
    failed.wait(10)
    (first,) = http.wait_for(1)
    assert first["body"]["title"] == "bad Failed" and first["body"]["type"] == "failure"
    assert "Reason: ZeroDivisionError: division by zero" in first["body"]["message"]
    stopped = ipyjobs.start_job(lambda: __import__("time").sleep(60), name="nap", notify=http.url())
    eventually(lambda: stopped.state is JobState.RUNNING)
    ipyjobs.stop_job(stopped)
    second = http.wait_for(2)[1]["body"]
    assert (second["title"], second["type"]) == ("nap Stopped", "warning")


def test_a_blocked_job_notifies_its_prompt_then_its_end(manager, http):
    job = ipyjobs.start_job(ask_twice, name="asker", notify=http.url())
    (blocked,) = http.wait_for(1)
    assert blocked["body"]["title"] == "asker Blocked" and blocked["body"]["type"] == "warning"
    assert "It asks: name?" in blocked["body"]["message"]
    job.send_input("Ann")
    assert http.wait_for(2)[1]["body"]["title"] == "asker Completed"


def test_a_fan_out_notifies_for_its_parent_only(manager, http):
    job = ipyjobs.start_job(lambda i: i * 2, each=range(50), name="fan", notify=http.url())
    assert job.wait(30)
    manager.notifier.deliverer.close()
    assert [item["body"]["title"] for item in http.items] == ["fan Completed"]


def test_a_process_job_notifies(manager, http):
    job = ipyjobs.start_job(print, "from a process", backend="process", notify=http.url())
    assert job.wait(30)
    (sent,) = http.wait_for(1)
    assert sent["body"]["title"] == f"{job.name} Completed"
    assert "from a process" in sent["body"]["message"]


def test_ntfy_and_email_are_delivered_too(manager, http, smtp):
    job = ipyjobs.start_job(
        lambda: "done", name="mail", notify=[http.url("ntfy", "jobs"), smtp.url()]
    )
    assert job.wait(10)
    (pushed,) = http.wait_for(1)
    assert pushed["body"]["topic"] == "jobs" and pushed["body"]["title"] == "mail Completed"
    (mail,) = smtp.wait_for(1)
    assert mail["subject"] == "mail Completed" and mail["to"] == ["me@example.com"]
    assert f"Job {job.id} (mail) Completed" in mail["body"]


def test_notify_after_skips_short_jobs(manager, http):
    manager.notify_after = 0.5
    quick = ipyjobs.start_job(int, name="quick", notify=http.url())
    quick.wait(10)
    slow = ipyjobs.start_job(lambda: __import__("time").sleep(0.6), name="slow", notify=http.url())
    slow.wait(10)
    (only,) = http.wait_for(1)  # the quick one's would have come first
    assert only["body"]["title"] == "slow Completed"


def test_notify_all_and_notify_true_use_notify_urls_unless_told_not_to(manager, http):
    manager.notify_urls = [http.url()]
    manager.notify_all = True
    ipyjobs.start_job(int, name="quiet", notify=False).wait(10)
    ipyjobs.start_job(int, name="told").wait(10)
    manager.notify_all = False
    ipyjobs.start_job(int, name="asked", notify=True).wait(10)
    ipyjobs.start_job(int, name="silent").wait(10)
    manager.notifier.deliverer.close()
    assert [item["body"]["title"] for item in http.items] == ["told Completed", "asked Completed"]


def test_only_the_asked_events_notify(manager, http):
    manager.notify_events = ["Failed"]
    ipyjobs.start_job(int, name="fine", notify=http.url()).wait(10)
    ipyjobs.start_job(lambda: 1 / 0, name="broke", notify=http.url()).wait(10)
    (sent,) = http.wait_for(1)
    assert sent["body"]["title"] == "broke Failed"


def test_a_url_apprise_cannot_read_is_refused_with_no_job_and_masked(manager):
    with pytest.raises(NotifyError) as refused:
        ipyjobs.start_job(int, notify=f"nonsense://{SECRET}@host")
    assert SECRET not in str(refused.value) and "nonsense://" in str(refused.value)
    with pytest.raises(NotifyError, match="notify_urls"):
        ipyjobs.start_job(int, notify=True)  # none configured
    with pytest.raises(NotifyError, match="not int"):
        ipyjobs.start_job(int, notify=3)
    assert ipyjobs.get_job() == []


def test_without_apprise_notify_is_refused_in_one_line(manager, monkeypatch):
    monkeypatch.setitem(sys.modules, "apprise", None)  # import apprise: ImportError
    with pytest.raises(NotifyError, match=r"pip install 'ipyjobs\[notify\]'"):
        ipyjobs.start_job(int, notify="json://127.0.0.1/hook")
    assert ipyjobs.get_job() == []
    assert ipyjobs.start_job(int).wait(10)  # jobs that do not notify need no Apprise


def test_a_failing_service_never_fails_the_job_and_is_logged_once(manager, http, caplog):
    http.status = 500
    with caplog.at_level(logging.WARNING, logger="ipyjobs"):
        for n in range(3):
            job = ipyjobs.start_job(lambda: "fine", name=f"j{n}", notify=http.url(path=SECRET))
            assert job.result(10) == "fine"
        http.wait_for(3)
        manager.notifier.deliverer.close()
    said = [r.getMessage() for r in caplog.records if r.name == "ipyjobs"]
    assert len(said) == 1 and "could not be delivered" in said[0], said
    assert SECRET not in said[0]


def test_the_url_never_shows_in_reprs_tables_or_commands(ip, http):
    url = f"json://user:{SECRET}@127.0.0.1:{http.port}/hook"
    job = run(ip, f"%job_start -n quiet --notify {url} 21 * 2")
    assert job.wait(10) and job.command == "21 * 2"
    http.wait_for(1)
    from ipyjobs.manager.notifying import plan

    shown = [repr(job), repr(run(ip, "%jobs")), str(job.child_jobs), job.command]
    shown.append(repr(plan(ipyjobs.get_manager(), url)))
    run(ip, f"%config JobManager.notify_urls = [{url!r}]")
    shown.append(repr(ipyjobs.get_manager().notify_urls))
    with capture_output() as config:  # what %config JobManager prints: current values
        run(ip, "%config JobManager")
    shown.append(config.stdout)
    assert "notify_urls" in config.stdout and "json://user:****@127.0.0.1" in config.stdout
    assert not [text for text in shown if SECRET in text]


def test_the_magics_notify_flag_alone_uses_notify_urls(ip, http):
    run(ip, f"%config JobManager.notify_urls = [{http.url()!r}]")
    job = run(ip, "%job_start --notify -n flagged 1 + 1")
    assert job.command == "1 + 1" and job.wait(10)
    assert http.wait_for(1)[0]["body"]["title"] == "flagged Completed"
    job = run(ip, f"%%job --notify {http.url('json', 'cell')} -n celled\n2 + 2")
    assert job.wait(10)
    assert http.wait_for(2)[1]["path"] == "/cell"
    with pytest.raises(Exception, match="Apprise cannot read"):
        run(ip, "%job_start --notify nonsense://x 1")


def test_the_shell_command_sends_a_test_notification(http):
    command = [sys.executable, "-m", "ipyjobs", "notify", http.url(), "hello from the shell"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Delivered to json://127.0.0.1:{http.port}/….\n"
    (sent,) = http.wait_for(1)
    assert sent["body"]["message"] == "hello from the shell"
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        dead = f"json://user:{SECRET}@127.0.0.1:{closed.getsockname()[1]}/x"
    command = [sys.executable, "-m", "ipyjobs", "notify", dead]
    failed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1 and "not delivered" in failed.stderr
    assert SECRET not in failed.stderr + failed.stdout
    assert len(failed.stderr.strip().splitlines()) == 1


def test_a_detached_jobs_notify_file_is_the_users_alone(manager, http, tmp_path):
    manager.store_dir = str(tmp_path / "store")
    job = ipyjobs.start_job(print, "bye", detach=True, notify=http.url())
    (sent,) = http.wait_for(1, 60)
    assert sent["body"]["title"] == f"{job.name} Completed" and "bye" in sent["body"]["message"]
    (child,) = job.child_jobs
    folder = manager.job_store().get(str(child.instance_id)).spool
    mode = stat.S_IMODE(os.stat(os.path.join(folder, "notify")).st_mode)
    assert mode == 0o600
    job.wait(30)
    manager.notifier.deliverer.close()
    assert len(http.items) == 1  # the supervisor sent it; the kernel did not again


def test_a_detached_job_notifies_after_its_kernel_was_killed(http, tmp_path):
    """SIGKILL the kernel, let the job end: its supervisor's notification arrives, once."""
    from tests.kernel import Kernel
    from tests.test_detached import kill_stored_jobs

    gate = tmp_path / "gate"
    kernel = Kernel()
    try:
        code = (
            "import os, time\n"
            f"while not os.path.exists({str(gate)!r}): time.sleep(0.01)\n"
            "print('outlived its kernel')"
        )
        reply = kernel.execute(
            f"%config JobManager.store_dir = {str(tmp_path / 'store')!r}\n%load_ext ipyjobs\n"
            "import ipyjobs\n"
            f"job = ipyjobs.start_job({code!r}, detach=True, name='orphan', "
            f"notify={http.url()!r})"
        )
        assert reply["content"]["status"] == "ok", reply["content"]
        kernel.kill()
        gate.touch()
        (sent,) = http.wait_for(1, 60)
        assert sent["body"]["title"] == "orphan Completed"
        assert "outlived its kernel" in sent["body"]["message"]
    finally:
        kernel.manager.cleanup_resources()
        kill_stored_jobs(str(tmp_path / "store"))
    eventually(lambda: len(http.items) == 1, 1)  # exactly one: nothing else sent it
