"""``time.sleep`` that a stop reaches (DESIGN §14): inside a thread job it waits on the
job's stop, as PowerShell's Stop-Job ends a Start-Sleep at once; anywhere else it is
Python's own.

A thread blocked in ``time.sleep`` does not see the asynchronous exception a stop raises
in it until the sleep returns (FACTS.md), and a polling loop that sleeps is the commonest
shape of a long notebook job: ``stop_job`` on one in ``time.sleep(30)`` took 29.5 s.
``capture.install`` puts ``sleep`` in ``time.sleep`` with the other routed functions.
Inside a job whose backend wakes sleepers (``wakes_sleepers``: the thread backend) it
waits on the job's stop event, which the backend's ``stop`` sets through ``wake``; it
then raises ``JobStopped`` as ``check_stop()`` does, and a job that sleeps counts as one
that checks (it is given ``stop_grace`` to reach its next sleep). A process job's sleep
is Python's own: a signal already interrupts it there. Code that took ``time.sleep``
before ipyjobs was loaded (``from time import sleep`` in a module imported earlier)
keeps Python's.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from ..model.errors import JobStopped
from .current import current_job

if TYPE_CHECKING:
    from ..model.job import Job

#: Python's own ``time.sleep``, taken before anything replaced it.
original = time.sleep

#: Each job that slept: the event its stop sets (made by its first sleep; a stop is
#: final, so it is never cleared).
_stop_events: weakref.WeakKeyDictionary[Job, threading.Event] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def sleep(seconds: Any) -> None:
    """``time.sleep(seconds)``, which a stop of the thread job that calls it ends."""
    job = current_job()
    if (
        job is None
        or not getattr(job.runner, "wakes_sleepers", False)
        or type(seconds) not in (int, float)
        or not 0 < seconds < math.inf  # 0, negatives, NaN, inf: Python's own says it
    ):
        return original(seconds)
    job.checks_stop = True  # it stops here: a stop gives it the grace to get here
    event = _stop_event(job)  # made before the flag is read: a stop in between sets it
    if job.stop_requested or event.wait(seconds) or job.stop_requested:
        raise JobStopped(f"{job.name} was asked to stop")
    return None


def _stop_event(job: Job) -> threading.Event:
    with _lock:
        event = _stop_events.get(job)
        if event is None:
            event = _stop_events[job] = threading.Event()
        return event


def wake(job: Job) -> None:
    """A stop of ``job`` was asked (``stop_requested`` is set): end its sleeps now."""
    with _lock:
        event = _stop_events.get(job)
    if event is not None:
        event.set()


def is_installed() -> bool:
    return time.sleep is sleep


def install() -> None:
    time.sleep = sleep


def uninstall() -> None:
    if time.sleep is sleep:
        time.sleep = original
