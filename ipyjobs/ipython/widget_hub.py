"""The one updater thread that refreshes a manager's live widgets.

The Jupyter server drops iopub traffic above 1000 messages/s, for good, so widgets never
refresh themselves from job threads: one thread per manager looks at every live widget at
most once per ``update_interval``, refreshes only those whose ``snapshot()`` changed, and
sleeps while no shown job can change. It knows the widgets only by what they offer
(``snapshot()``, ``refresh()``, and ``job`` or ``_shown``), so it imports none of them.
"""

from __future__ import annotations

import functools
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from ..execution.daemons import forget_thread, guarded

if TYPE_CHECKING:
    from ..manager.manager import JobManager
    from ..model.job import Job


class WidgetHub:
    """The one updater thread of a manager's live widgets. It ticks every
    ``update_interval`` while any shown job may still change, and sleeps otherwise until a
    job starts, changes state, or is received or removed."""

    def __init__(self, manager: JobManager) -> None:
        self.manager = manager
        self._widgets: weakref.WeakSet[Any] = weakref.WeakSet()
        self._seen: weakref.WeakKeyDictionary[Any, tuple] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        manager.start_listeners.append(self._job_started)
        manager.child_listeners.append(self._job_started)  # a lazy fan-out's new child
        manager.change_listeners.append(lambda job: self.wake())

    def watch(self, widget: Any, seen: tuple | None = None) -> None:
        """Refresh ``widget`` whenever what it shows changes from ``seen``: its snapshot
        taken before its first refresh (taken after it, a job that ended in between
        would look unchanged, and its widget would never show the end)."""
        with self._lock:
            self._widgets.add(widget)
            self._seen[widget] = widget.snapshot() if seen is None else seen
        job = _job_of(widget)
        if job is not None:  # a job's widget: it may have started before this hub existed
            self._follow(job)
        self.wake()

    def _follow(self, job: Job) -> None:
        """Wake on each state change of ``job`` and its children, and on records that
        arrive at a child after it finished (a detached job's last records can come
        after its final state: its last refresh must show them, DESIGN §14)."""
        for member in [job, *job.child_jobs]:
            member.add_state_callback(self._state_changed)
            if not member.child_jobs and member.parent is not None:
                # (weakly: the job's buffer must not keep the job alive through it)
                member.records.on_arrival = functools.partial(self._arrived, weakref.ref(member))

    def _arrived(self, member: weakref.ref[Job]) -> None:
        job = member()
        if job is not None and job.finished:  # while it runs, the hub ticks anyway
            self.wake()

    def _state_changed(self, *_: Any) -> None:
        self.wake()

    def _job_started(self, job: Job) -> None:
        self._follow(job)
        self.wake()

    def wake(self) -> None:
        with self._lock:
            if not self._widgets:
                return
            self._wake.set()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._main, name="ipyjobs-widgets", daemon=True
                )
                self._thread.start()

    @guarded("the widget updater", then=forget_thread())
    def _main(self) -> None:
        last = 0.0
        while True:
            interval = self.manager.update_interval
            self._wake.wait(interval)
            # However often it is woken, it ticks at most once an interval (~10 a second).
            time.sleep(max(0.0, last + interval - time.monotonic()))
            self._wake.clear()
            last = time.monotonic()
            if self.tick():
                continue  # something runs, or just changed: look again next interval
            if self._wake.wait(1.0):
                continue
            with self._lock:
                if not self._wake.is_set():
                    self._thread = None
                    return

    def tick(self) -> bool:
        """Refresh the widgets whose view changed. True if one did, or if some shown job
        still runs: a job may finish between a refresh and this answer, so the thread
        only stops after a tick that changed nothing."""
        with self._lock:
            widgets = list(self._widgets)
        active = False
        for widget in widgets:
            snapshot = widget.snapshot()
            if snapshot != self._seen.get(widget):
                self._seen[widget] = snapshot
                widget.refresh()
                active = True
            active = active or _running(widget)
        return active

    def stop(self) -> None:
        with self._lock:
            self._widgets = weakref.WeakSet()
            self._wake.set()


def _job_of(widget: Any) -> Job | None:
    """The job a JobWidget shows; None for a table (which has no ``job``)."""
    return getattr(widget, "job", None)


def _running(widget: Any) -> bool:
    job = _job_of(widget)
    if job is not None:
        return not job.finished and not job.removed
    return any(not job.finished for job in widget._shown)


_hubs: weakref.WeakKeyDictionary[Any, WidgetHub] = weakref.WeakKeyDictionary()


def hub(manager: JobManager) -> WidgetHub:
    if manager not in _hubs:
        _hubs[manager] = WidgetHub(manager)
    return _hubs[manager]
