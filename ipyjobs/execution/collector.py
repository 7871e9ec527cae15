"""Moves the lock-free inboxes of thread jobs into records at a steady pace.

A thread job's code writes from its own thread, and any thread it starts, by appending to
a list (the fast path); without a reader that list would grow without bound. The
collector drains it every ``interval`` seconds, which keeps a job's memory bounded by the
spill limit plus one interval's worth of writes. Its thread runs while some watched job
is unfinished and ``LINGER`` seconds after (so a run of short jobs does not start a
thread each), and ends at once after ``close``: none is left behind.

Process and remote jobs' records arrive in batches through a reader that collects them
itself. Watching them here too made a batch of 200 remote sends 1.8x slower (median of
eight): each tick's turn over every watched job competes with the sending thread.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from .daemons import forget_thread, guarded, report

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..model.job import Job

#: Seconds the thread waits for a next job once every watched job has finished.
LINGER = 1.0


class Collector:
    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._jobs: list[Job] = []
        self._thread: threading.Thread | None = None
        self._closing = False
        self._closed = threading.Event()  # ends a lingering thread's tick at once

    def watch(self, job: Job) -> None:
        self.watch_many((job,))

    def watch_many(self, jobs: Iterable[Job]) -> None:
        """Watch from the next tick on. A lingering thread ticks too, rather than sleep
        until woken: waking it cost each job start a system call (18 us here) while the
        job's worker waited for the GIL."""
        with self._lock:
            self._jobs.extend(jobs)
            self._closing = False
            if self._closed.is_set():  # (clear takes the Event's lock: not every time)
                self._closed.clear()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._main, name="ipyjobs-collector", daemon=True
                )
                self._thread.start()

    def close(self) -> None:
        """End the thread as soon as no watched job runs (the manager shuts down)."""
        with self._lock:
            self._closing = True
            self._closed.set()

    @guarded("the output collector", then=forget_thread())
    def _main(self) -> None:
        idle_since: float | None = None
        while True:
            if idle_since is None:
                time.sleep(self.interval)
            else:  # nothing to collect: a tick until a job comes or the linger is over
                self._closed.wait(self.interval)
            with self._lock:
                jobs = list(self._jobs)
            failed = []
            for job in jobs:
                try:
                    job.records.collect()
                except Exception as error:  # its output stays in its inbox, for a receive
                    report(f"collecting {job.name}'s output", error)
                    failed.append(job)
            with self._lock:
                self._jobs = [j for j in self._jobs if not j.finished and j not in failed]
                if self._jobs:
                    idle_since = None
                    continue
                idle_since = idle_since or time.monotonic()
                if self._closing or time.monotonic() - idle_since >= LINGER:
                    self._thread = None
                    return
