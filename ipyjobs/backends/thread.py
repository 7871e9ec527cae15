"""Thread jobs (``ThreadJob``): reused daemon worker threads inside the kernel.

The threads come from ``thread_pool.WorkerPool``, which also applies ``throttle_limit``.

Stopping: the cooperative flag first (``check_stop()`` raises). A job that has shown it
checks the flag gets ``stop_grace`` seconds to stop by itself; then, or at once for a job
that never checks, ``JobStopped`` is raised in its thread asynchronously
(``PyThreadState_SetAsyncExc``). That lands between bytecodes: a long C call or a blocking
wait delays it until it returns, but ``time.sleep`` inside a job wakes at once
(``execution.sleeping``: ``wakes_sleepers``). The pool makes sure a stop never reaches the worker's
next job.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ..execution import sleeping
from ..execution.capture import install as install_capture
from ..execution.daemons import guarded
from ..model.errors import JobArgumentError, JobStateError
from .thread_pool import WorkerPool

if TYPE_CHECKING:
    from ..manager.manager import JobManager
    from ..model.job import Job
    from . import StartRequest


class ThreadBackend:
    """``backend="thread"``: the default."""

    name = "thread"
    job_type = "ThreadJob"
    confirms_stops = False  # a NotStarted thread job is still in the queue: Stopped at once
    wakes_sleepers = True  # its stop ends a time.sleep in the job (execution.sleeping)
    #: How often, and how many times, the asynchronous stop is posted again (for code
    #: that catches JobStopped and carries on).
    retry_interval = 0.05
    retries = 40

    def __init__(self, manager: JobManager) -> None:
        self.manager = manager
        self.pool = WorkerPool(manager.throttle_limit, host=manager.host, sampler=manager.sampler)
        manager.observe(lambda change: self.pool.set_throttle_limit(change.new), "throttle_limit")

    def check(self, request: StartRequest) -> None:
        if request.cwd is not None:
            raise JobArgumentError(
                "cwd= needs the process or engines backend: thread jobs share the "
                "kernel's working directory"
            )
        if request.engines is not None:
            raise JobArgumentError("engines= needs the engines backend")

    def locations(self, request: StartRequest) -> list[str]:
        return ["localhost"]

    def launch(self, child: Job, request: StartRequest) -> None:
        install_capture()  # again: pytest or a prompt may have swapped sys.stdout since
        child.runner = self
        work = request.work_for(child)
        self.manager.collector.watch(child)
        # The hand-over last: the worker it wakes needs the GIL, which this thread holds
        # until it is done here.
        self.pool.submit(child, work)

    def launch_many(self, children: list[Job], request: StartRequest) -> None:
        """Launch a fan-out's children together (see ``WorkerPool.submit_many``)."""
        install_capture()
        tasks = []
        for child in children:
            child.runner = self
            tasks.append((child, request.work_for(child)))
        self.manager.collector.watch_many(children)
        self.pool.submit_many(tasks)  # last, as in ``launch``

    def stop(self, child: Job) -> None:
        sleeping.wake(child)  # a job in time.sleep stops now, as at check_stop()
        threading.Thread(
            target=self._escalate, args=(child,), name=f"ipyjobs-stop-{child.id}", daemon=True
        ).start()

    @guarded("stopping a thread job")
    def _escalate(self, child: Job) -> None:
        if child.checks_stop and child.wait_until_finished(self.manager.stop_grace):
            return
        for _ in range(self.retries):
            self.pool.interrupt(child)
            if child.wait_until_finished(self.retry_interval):
                return

    def answer(self, child: Job, text: str, echo: bool) -> None:
        """The job's thread waits in ``input()`` for this (see ``asking``)."""
        if not child.unblock((text, echo)):
            raise JobStateError(f"{child.name} is {child.state.value}, not Blocked")

    def suspend(self, child: Job) -> None:
        raise JobStateError(f"{child.name}: a ThreadJob cannot be suspended (use a process job)")

    resume = suspend

    def shutdown(self) -> None:
        self.pool.shutdown()
