"""The stop ladder of Dask jobs (DESIGN §15, docs/decisions.md "Dask jobs"): one step
every ``stop_grace`` seconds, climbed by one thread while some stop is pending.

Step 0 sets the task's stop flag on its worker (``check_stop()``, and a routed
``time.sleep`` wakes); step 1 raises ``JobStopped`` in the worker thread running it;
step 2 cancels it, so that Dask does not run it again, and restarts its worker, sealed
first: the tasks queued there never begin, and Dask runs them elsewhere. A task
not known to run yet is told on every worker at step 0 (where it starts, it stops at
once) and cancelled at step 1 if it still waits: cancelling only, it could start
meanwhile and run on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ..execution.daemons import guarded, report
from . import dask_task
from .dask_followed import FollowedTask

#: Seconds between two looks of the ladder at the pending stops.
STOP_POLL_INTERVAL = 0.02


class StopLadder:
    """Climbs the ladder for the tasks given to ``climb``, until each one ended or was
    cancelled; ``restarted(task, worker)`` ends a task whose worker it restarted."""

    def __init__(
        self, grace: Callable[[], float], restarted: Callable[[FollowedTask, str], None]
    ) -> None:
        self._grace = grace
        self._restarted = restarted
        self._stopping: set[FollowedTask] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        #: The keys of the tasks that had begun on a worker being restarted, by address.
        self._began: dict[str, set[str]] = {}

    def began_before_restart(self, worker: str) -> set[str] | None:
        """The keys of the tasks that had begun on ``worker`` when the ladder sealed it
        to restart it (None: it was not restarted by the ladder)."""
        with self._lock:
            return self._began.pop(worker, None)

    def climb(self, tasks: list[FollowedTask]) -> None:
        """Stop ``tasks``, together: a fan-out's first step tells those still queued
        before those running, whose workers would otherwise start one of them as soon as
        they stop."""
        with self._lock:
            self._stopping.update(tasks)
            if not self._stopping:
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._climb, name="ipyjobs-dask-stops", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def ended(self, task: FollowedTask) -> None:
        """The task ended: no more steps for it."""
        with self._lock:
            self._stopping.discard(task)

    def close(self) -> None:
        """Wait for a step in progress (a worker's restart) and let the thread go."""
        with self._lock:
            self._stopping.clear()
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(30)

    def _forget_thread(self, error: BaseException) -> None:
        with self._lock:
            self._thread = None

    @guarded("stopping Dask jobs", then=_forget_thread)
    def _climb(self) -> None:
        while True:
            with self._lock:
                stopping = list(self._stopping)
                if not stopping:
                    self._thread = None
                    return
            now = time.monotonic()
            due = [task for task in stopping if now >= task.stop_next]
            for task in due:
                task.stop_step += 1
                task.stop_next = now + self._grace()
            if due:
                self._steps(due)
            self._wake.wait(STOP_POLL_INTERVAL)
            self._wake.clear()

    def _steps(self, due: list[FollowedTask]) -> None:
        """One step up for each task in ``due``: a call per worker and step (stopping a
        fan-out of a thousand queued tasks is two calls, not a thousand)."""
        told: dict[tuple[Any, str | None, int], list[FollowedTask]] = {}
        cancelled: dict[Any, list[FollowedTask]] = {}
        restarts: dict[tuple[Any, str], list[FollowedTask]] = {}
        for task in due:
            worker = task.worker
            if worker is not None and task.stop_step >= 2:
                restarts.setdefault((task.client, worker), []).append(task)
            elif worker is None and task.stop_step >= 1:
                cancelled.setdefault(task.client, []).append(task)
            else:  # on the worker's event loop, at once (a moment's call from here)
                told.setdefault((task.client, worker, min(task.stop_step, 1)), []).append(task)
        # Those not known to run first: told after a running task stopped, its worker
        # would start the next one, which a broadcast sent later did not find waiting.
        for (client, worker, step), tasks in sorted(
            told.items(), key=lambda told_one: told_one[0][1] is not None
        ):
            client.run(
                dask_task.stop,
                [task.key for task in tasks],
                step,
                workers=None if worker is None else [worker],
                on_error="ignore",
            )
        with self._lock:
            for group in (*cancelled.values(), *restarts.values()):
                self._stopping.difference_update(group)
        for client, tasks in cancelled.items():
            client.cancel([task.future for task in tasks])
        for (client, worker), tasks in restarts.items():
            self._restart(client, worker, tasks)

    def _restart(self, client: Any, worker: str, tasks: list[FollowedTask]) -> None:
        """The last step: seal the worker (the tasks it holds that have not begun never
        will: they are not lost with it), cancel the tasks (so that Dask does not run
        them again), restart the worker once, and end them once it is back."""
        for task in tasks:
            task.restarted = worker
        try:
            began = client.run(dask_task.seal, workers=[worker], on_error="ignore")
            with self._lock:
                self._began[worker] = set(began.get(worker, ()))
            client.cancel([task.future for task in tasks])
            outcome = client.restart_workers([worker], raise_for_error=False)
            if outcome.get(worker) not in ("OK", "removed"):  # still there, sealed
                self.began_before_restart(worker)
                client.run(dask_task.unseal, workers=[worker], on_error="ignore")
        except Exception as error:
            report(f"restarting the Dask worker {worker}", error)
        for task in tasks:
            self._restarted(task, worker)
