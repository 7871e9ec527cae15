"""A widget's last refresh shows a job's final output with its final state, whichever
arrived last (DESIGN §14), for every backend: the hub wakes for records that reach a
finished job, and it still ticks at most once an interval."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

import ipyjobs
from ipyjobs import JobState
from ipyjobs.backends.detached import DetachedBackend
from ipyjobs.ipython.widget_hub import hub
from ipyjobs.ipython.widgets import JobWidget
from tests import process_jobs
from tests.conftest import eventually
from tests.test_detached import kill_stored_jobs


def hub_asleep() -> bool:
    """The hub's thread ended: nothing it shows runs, and its last tick changed nothing."""
    return not any(t.name == "ipyjobs-widgets" for t in threading.enumerate())


@pytest.fixture
def shown(manager):
    widgets: list[JobWidget] = []

    def show(job) -> JobWidget:
        widget = JobWidget(job, manager)
        widgets.append(widget)
        return widget

    yield show
    hub(manager).stop()
    for widget in widgets:
        widget.close()


def test_a_detached_jobs_last_records_held_back_past_its_final_state_are_shown(
    manager, shown, tmp_path, monkeypatch
):
    """The last line of the spool reaches the job only after its final state was shown."""
    manager.store_dir = str(tmp_path / "store")
    take_in, end = DetachedBackend._take_in, DetachedBackend._end
    held: list = []
    widgets: list[JobWidget] = []

    def holding_back(self, followed, store, messages):
        last = [m for m in messages if m[0] == "items" and "step 59" in repr(m[1])]
        held.extend(last)
        return take_in(self, followed, store, [m for m in messages if m not in last])

    def ending(self, followed, store, state, reason):
        end(self, followed, store, state, reason)
        eventually(lambda: widgets and ">Completed<" in widgets[0].panel.view, 10)
        eventually(hub_asleep, 5)  # it showed the final state, and then saw no change
        take_in(self, followed, store, held)  # the last records, after the final state

    monkeypatch.setattr(DetachedBackend, "_take_in", holding_back)
    monkeypatch.setattr(DetachedBackend, "_end", ending)
    try:
        job = ipyjobs.start_job(process_jobs.steps, 60, detach=True)
        widgets.append(shown(job))
        eventually(lambda: job.state is JobState.COMPLETED, 30)
        eventually(lambda: "step 59" in widgets[0].panel.view, 10)
        assert held  # it was held back, and shown once it came
    finally:
        kill_stored_jobs(tmp_path / "store")


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_records_that_reach_a_finished_job_are_shown(manager, shown, backend):
    job = ipyjobs.start_job(process_jobs.steps, 60, backend=backend)
    widget = shown(job)
    assert job.result(30) == "done"
    eventually(lambda: ">Completed<" in widget.panel.view and "step 59" in widget.panel.view)
    eventually(hub_asleep, 5)
    child = job.child_jobs[0]
    child.records.pending.append("written after the end\n")
    child.records.collect()
    eventually(lambda: "written after the end" in widget.panel.view, 5)


def test_the_hub_ticks_at_most_once_an_interval_however_often_it_is_woken(manager, shown):
    manager.update_interval = 0.1
    gate = threading.Event()
    job = ipyjobs.start_job(gate.wait)
    shown(job)
    the_hub = hub(manager)
    ticks: list[float] = []
    tick = the_hub.tick

    def counted() -> bool:
        ticks.append(time.monotonic())
        return tick()

    the_hub.tick = counted  # type: ignore[method-assign]
    for _ in range(2000):
        the_hub.wake()
    eventually(lambda: len(ticks) >= 5, 5)
    gate.set()
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert min(gaps) >= 0.09, gaps
