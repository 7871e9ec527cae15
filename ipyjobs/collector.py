"""Moves running jobs' lock-free inboxes into records at a steady pace.

Writes only append to a list (the fast path); without a reader that list would grow
without bound. The collector drains it every ``interval`` seconds, which keeps a job's
memory bounded by the spill limit plus one interval's worth of writes. Its thread runs
only while some watched job is unfinished, so none is left behind.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .job import Job


class Collector:
    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._jobs: list[Job] = []
        self._thread: threading.Thread | None = None

    def watch(self, job: Job) -> None:
        with self._lock:
            self._jobs.append(job)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._main, name="ipyjobs-collector", daemon=True
                )
                self._thread.start()

    def _main(self) -> None:
        while True:
            time.sleep(self.interval)
            with self._lock:
                jobs = list(self._jobs)
            for job in jobs:
                job.records.collect()
            with self._lock:
                self._jobs = [job for job in self._jobs if not job.finished]
                if not self._jobs:
                    self._thread = None
                    return
