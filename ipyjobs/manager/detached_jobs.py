"""A manager's side of detached jobs (DESIGN §8): its job store, opened once on first use
(finished jobs past ``keep_finished_days`` pruned then) and closed with the manager, and
the jobs that earlier kernels of its scope left there."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from ..backends.store import JobStore

if TYPE_CHECKING:
    from ..model.job import Job
    from .manager import JobManager


class DetachedJobs:
    def __init__(self, manager: JobManager) -> None:
        self.manager = manager
        self._store: JobStore | None = None
        self._lock = threading.Lock()

    def folder(self) -> str:
        """``store_dir``, or the folder ipyjobs in the IPython profile's."""
        manager = self.manager
        return manager.store_dir or os.path.join(manager.host.profile_dir(), "ipyjobs")

    def store(self) -> JobStore:
        """The job store, opened on first use; a ``StoreError`` if it cannot be used."""
        with self._lock:
            if self._store is None:
                store = JobStore(self.folder(), self.manager.busy_timeout)
                if store.cannot_write is None:  # a read-only store is read as it is
                    store.prune(self.manager.keep_finished_days)
                self._store = store
            return self._store

    def attach(self) -> list[Job]:
        """List (and hold, where no live kernel holds them) the detached jobs of this
        scope; nothing while there is no store yet."""
        if not os.path.exists(os.path.join(self.folder(), "jobs.sqlite3")):
            return []
        return self.manager.backend("detached").attach(self.store())  # type: ignore[attr-defined]

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
