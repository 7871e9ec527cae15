"""``ipyjobs`` from a shell with no kernel: list, receive, wait, stop and remove detached
jobs that a kernel (here: a manager that then shut down) left running."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

import ipyjobs
from ipyjobs import JobState
from ipyjobs.backends.store import JobStore
from ipyjobs.model.formatting import COLUMNS
from tests import process_jobs
from tests.conftest import eventually
from tests.test_detached import kill_stored_jobs

SCRIPT = Path(sys.executable).parent / "ipyjobs"


def cli(store: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(SCRIPT), "--store", store, *args], capture_output=True, text=True, timeout=60
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def left_running(manager, tmp_path):
    """A detached job that printed its early lines, left by a manager that shut down."""
    store = str(tmp_path / "store")
    manager.store_dir = store
    gate = str(tmp_path / "gate")
    job = ipyjobs.start_job(process_jobs.print_then_wait, 2, gate, detach=True, name="fit")
    eventually(lambda: job.child_jobs[0].records.tail.count("\n") == 2, 30)
    manager.shutdown()
    try:
        yield store, gate, job
    finally:
        kill_stored_jobs(store)


def test_list_receive_wait_and_remove_from_a_shell(left_running):
    store, gate, job = left_running
    listing = cli(store, "list").stdout
    assert listing.splitlines()[0].split() == list(COLUMNS)  # the magics' table
    assert listing.splitlines()[2].split()[:5] == [
        str(job.id),
        "fit",
        "ProcessJob",
        "Disconnected",
        "True",
    ]
    assert "Scope" in cli(store, "list", "--all").stdout
    assert cli(store, "receive", "--keep", "fit").stdout == "line 0\nline 1\n"
    assert cli(store, "receive", "fit").stdout == "line 0\nline 1\n"
    assert cli(store, "receive", str(job.id)).stdout == ""  # received once
    open(gate, "w").close()
    waited = cli(store, "wait", "fit").stdout
    assert "Completed" in waited
    assert cli(store, "receive", "fit").stdout == "'finished'\n"  # values by repr
    cli(store, "remove", "fit")
    assert JobStore(store).jobs() == []
    assert cli(store, "list").stdout.strip() == "No jobs."


def test_stop_from_a_shell_and_bad_refs_say_so(left_running):
    store, _, _ = left_running
    stopped = cli(store, "stop", "fit").stdout
    assert "Stopped" in stopped
    missing = cli(store, "receive", "nosuch", check=False)
    assert missing.returncode == 1 and missing.stderr.strip() == "ipyjobs: no job named 'nosuch'"
    assert JobStore(store).jobs()[0].state == "Stopped"


def test_python_m_ipyjobs_is_the_same_command(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "ipyjobs", "--store", str(tmp_path / "none"), "list"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert done.returncode == 0 and done.stdout.strip() == "No jobs."
    assert JobState.DISCONNECTED == "Disconnected"


def test_suspend_and_resume_from_a_shell_and_the_listing_says_suspended(left_running):
    store, gate, job = left_running
    child = JobStore(store).get(str(job.child_jobs[0].instance_id))
    assert "Suspended" in cli(store, "suspend", "fit").stdout
    process = psutil.Process(child.pid)
    assert process.status() == psutil.STATUS_STOPPED
    # No kernel holds it, but it waits for a resume, not for a kernel: not Disconnected.
    assert cli(store, "list").stdout.splitlines()[2].split()[3] == "Suspended"
    assert "Running" in cli(store, "resume", "fit").stdout
    assert process.status() != psutil.STATUS_STOPPED
    assert cli(store, "list").stdout.splitlines()[2].split()[3] == "Disconnected"
    not_suspended = cli(store, "resume", "fit", check=False)
    assert not_suspended.returncode == 1
    assert not_suspended.stderr.strip() == f"ipyjobs: {job.child_jobs[0].name} is not suspended"
    open(gate, "w").close()
    assert "Completed" in cli(store, "wait", "fit").stdout
