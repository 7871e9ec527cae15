"""Time limits (``timeout=``): one thread waits for the nearest deadline of every job.

A job's limit counts from when it starts running (for a fan-out, each child's from its
own start). At the deadline a job that has not finished is marked as overrun and stopped
through its backend's stop ladder; however it then ends, it ends Failed with a
``JobTimeoutError`` naming the limit (see ``Job.mark_overrun``). One thread for all
jobs, alive only while a deadline is pending: ten thousand limited jobs cost no more
threads than one.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..execution.daemons import forget_thread, guarded
from ..model.state import JobState

if TYPE_CHECKING:
    from ..model.job import Job


class Deadlines:
    """Calls ``expired(job, seconds)`` once a job armed with ``seconds`` has run that long
    without finishing."""

    def __init__(self, expired: Callable[[Job, float], None]) -> None:
        self._expired = expired
        self._heap: list[tuple[float, int, Job, float]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def limit(self, job: Job, seconds: float) -> None:
        """Arm ``seconds`` for ``job`` when it starts running (at once if it runs)."""

        def started(job: Job, previous: JobState, new: JobState) -> None:
            if new is JobState.RUNNING or new.finished:
                job.remove_state_callback(started)
                if new is JobState.RUNNING:
                    self._arm(job, seconds)

        job.add_state_callback(started)
        if job.state is JobState.RUNNING:  # it began before the callback was in place
            job.remove_state_callback(started)
            self._arm(job, seconds)

    def _arm(self, job: Job, seconds: float) -> None:
        with self._changed:
            if self._closed:
                return
            heapq.heappush(
                self._heap, (time.monotonic() + seconds, next(self._order), job, seconds)
            )
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._main, name="ipyjobs-deadlines", daemon=True
                )
                self._thread.start()
            self._changed.notify()

    @guarded("the time limits", then=forget_thread("_changed"))
    def _main(self) -> None:
        while True:
            with self._changed:
                while True:
                    if self._closed or not self._heap:
                        self._thread = None
                        return
                    when, _, job, seconds = self._heap[0]
                    if job.finished:  # ended in time: nothing to do
                        heapq.heappop(self._heap)
                        continue
                    left = when - time.monotonic()
                    if left <= 0:
                        heapq.heappop(self._heap)
                        break
                    self._changed.wait(min(left, 1.0))  # also drops jobs that ended
            self._expired(job, seconds)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._heap.clear()
            thread = self._thread
            self._changed.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)
