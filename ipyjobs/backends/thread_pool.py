"""The worker pool behind thread jobs: daemon threads that run jobs one after another.

A thread made for each job cost too much in a burst of short jobs (a 1 000-item fan-out
made 679 threads, each one more contending for the GIL). So workers form a cached pool
that grows on demand, and a job never waits behind another unless ``throttle_limit`` is
set (ThreadJob's -ThrottleLimit): then extra jobs wait as NotStarted and start in order
as others finish. Idle workers exit after a while.

A reused thread must not carry a stop over from one job to the next. ``JobStopped`` is
raised in a worker asynchronously (``PyThreadState_SetAsyncExc``), so a stop is posted
only while the job's code runs, and one that has not landed when the code ends is made to
land in the worker's own bookkeeping.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import os
import queue
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from ..execution.capture import job_context
from ..execution.daemons import guarded
from ..execution.host import PLAIN, Host
from ..execution.resources import ResourceSampler, thread_cpu_clock
from ..execution.work import Work, run_work
from ..model.errors import JobStateError, JobStopped
from ..model.state import JobState

if TYPE_CHECKING:
    from ..model.job import Job

_post_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_post_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
_post_async_exc.restype = ctypes.c_int
# Never "clear" a posted exception with SetAsyncExc(id, NULL): on CPython 3.11 that leaves
# the interpreter-wide pending flag set, which slows every thread from then on (and hung a
# profiled run). A posted stop is always delivered instead, if need be in `_landing_pad`.


def _landing_pad() -> None:
    """A call whose start is a place where a pending asynchronous exception lands."""


log = logging.getLogger("ipyjobs")
_worker_numbers = itertools.count(1)
#: Seconds between two looks of the ramp thread at tasks waiting for a worker.
RAMP_TICK = 0.02
#: Up to this many workers, a waiting job gets a new thread as soon as the last one began
#: (as many as ThreadPoolExecutor makes by default); past it, the ramp adds them.
EAGER_WORKERS = min(32, (os.cpu_count() or 1) + 4)
_Task = tuple["Job", Work]


class _Worker:
    """One daemon thread that runs jobs one after another."""

    def __init__(self, pool: WorkerPool, first: _Task) -> None:
        self.pool = pool
        self.inbox: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.current: Job | None = None  # set only while the user's code may run
        self.posted = False  # a stop was posted and may not have landed yet
        self.freed = False  # the current job's work is over and the pool knows it
        self.next_task: _Task | None = None  # what the pool gave this worker next
        self.cpu_clock: Any = None  # this thread's CPU clock (False: none here)
        #: Its CPU time when it last went idle or ended a job's code: where the next job's
        #: CPU time counts from (a new thread's first job counts from the thread's start).
        self.cpu_started = 0.0
        #: The task the worker is made for, until its thread takes it (not the thread's
        #: ``args``: a thread keeps those while it runs, and with them a removed job).
        self.first_task: _Task | None = first
        self.thread = threading.Thread(
            target=self._main,
            name=f"ipyjobs-worker-{next(_worker_numbers)}",
            daemon=True,
        )
        # Started by the pool once it released its lock: the first job may end, and
        # ask the pool for the next, before start() returns.

    def _main(self) -> None:
        task, self.first_task = self.first_task, None
        self.pool._started()
        while True:
            while task is not None:
                self._run(*task)
                task = self.next_task
            if self.pool._closed:
                return
            # Read here, not as a job's code starts: the next job's start waits for no
            # clock (a system call, 0.7 us), and the wait spends no CPU time.
            self.cpu_started = time.thread_time()
            try:
                task = self.inbox.get(timeout=self.pool.idle_timeout)
            except queue.Empty:
                if self.pool._retire(self):
                    return
                continue  # a task is on its way
            if task is None:
                return

    def _run(self, job: Job, work: Work) -> None:
        """Run one task. In a frame of its own: an idle worker keeps no finished job
        alive (a removed job's records and all were held until the next task)."""
        self.freed, self.next_task = False, None
        try:
            with job_context(job):
                run_work(job, work, self._call, self.pool.host, self._free)
        except BaseException as error:  # ipyjobs' own bug: the worker carries on
            log.exception("ipyjobs: worker failed running %s", job.name)
            job.set_state(JobState.FAILED, error)
        if not self.freed:  # stopped before it started, or the bug above
            self._free()

    def _free(self) -> None:
        """The job's work is over (its final state is next): take the next waiting job,
        or be idle, now. Freed only after the final state, a worker was still busy when
        a caller waiting on the job started the next one, and a new thread was made for
        it (106 threads after 10 000 back-to-back jobs)."""
        self.freed = True
        self.next_task = self.pool._next_task(self)

    def _call(self, run: Any, job: Job) -> None:
        """Run the user's code, ``run(job)``, where an asynchronous stop may land, and
        only there; its CPU time is this thread's since the worker last went idle or ran
        a job's code (sampled meanwhile through its clock)."""
        started = self.cpu_started
        job.note_usage(0.0)
        if self.pool.sampler is not None:
            self.pool.sampler.wake()  # it samples this job through sample_workers
        try:
            with self.lock:
                self.current = job
            run(job)
        finally:
            # Inline, not a helper: a pending stop lands at call boundaries. Once `current`
            # is None no new stop is posted; one posted before is made to land here.
            while True:
                try:
                    with self.lock:
                        self.current = None
                        posted, self.posted = self.posted, False
                    ended = self.cpu_started = time.thread_time()
                    job.note_usage(ended - started)
                    if posted:
                        # Post again to ourselves: on 3.11 the pending flag is shared by
                        # all threads and another thread's stop may have reset it. Now one
                        # stop is pending, signalled, and lands in the call below.
                        _post_async_exc(self.thread.ident, JobStopped)
                        _landing_pad()
                    break
                except JobStopped:
                    pass

    def _clock(self) -> Any:
        """This thread's CPU clock, readable from the sampler's thread (made once)."""
        if self.cpu_clock is None and self.thread.ident is not None:
            self.cpu_clock = thread_cpu_clock(self.thread.ident) or False
        return self.cpu_clock or None

    def interrupt(self, job: Job) -> bool:
        """Raise JobStopped in this worker if it is running ``job``'s code right now."""
        with self.lock:
            if self.current is job and self.thread.ident is not None:
                _post_async_exc(self.thread.ident, JobStopped)
                self.posted = True
                return True
        return False


class WorkerPool:
    """A cached pool of workers with an optional throttle limit."""

    def __init__(
        self,
        throttle_limit: int = 0,
        idle_timeout: float = 30.0,
        host: Host = PLAIN,
        sampler: ResourceSampler | None = None,
    ) -> None:
        self.throttle_limit = throttle_limit
        self.host = host  # names the shell's cells in a failed job's traceback
        self.sampler = sampler  # samples a running job's CPU time
        if sampler is not None:
            sampler.add_source(self.sample_workers)
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._workers: set[_Worker] = set()
        self._idle: list[_Worker] = []
        self._waiting: deque[_Task] = deque()
        self._busy = 0
        self._starting = 0  # workers made whose threads have not begun yet
        #: Counts the waiting tasks workers take (the ramp looks whether it moved).
        self._taken = itertools.count()
        self._taken_seen = 0
        self._added = 0  # and tasks queued since then
        self._ramping = False
        self._closed = False
        self._closing = threading.Event()

    def submit(self, job: Job, work: Work) -> None:
        with self._lock:
            if self._closed:
                raise JobStateError("the thread backend has been shut down")
            if self.throttle_limit and self._busy >= self.throttle_limit:
                self._waiting.append((job, work))
                return
            self._busy += 1
            new_worker = self._hand_over((job, work))
        if new_worker is not None:
            new_worker.thread.start()

    def submit_many(self, tasks: list[_Task]) -> None:
        """Queue a burst (a fan-out's children) at once, then wake the idle workers: they
        take one task after another without blocking in between, as ThreadPoolExecutor's
        do. Handed over one by one, each went to a worker that had just gone idle, and a
        1 000-item fan-out took 3 000 context switches (and three times as long)."""
        with self._lock:
            if self._closed:
                raise JobStateError("the thread backend has been shut down")
            self._waiting.extend(tasks)
            self._added += len(tasks)
            new_workers = self._dispatch_waiting(grow=False)
        for worker in new_workers:
            worker.thread.start()

    def set_throttle_limit(self, limit: int) -> None:
        """Change the limit; jobs it now admits start at once."""
        with self._lock:
            self.throttle_limit = limit
            new_workers = self._dispatch_waiting()
        for worker in new_workers:
            worker.thread.start()

    def _dispatch_waiting(self, grow: bool = True) -> list[_Worker]:
        """Give waiting tasks the throttle admits to idle workers, then to one new thread
        (see _hand_over): the ramp adds more while tasks still wait. Called with the lock
        held; the workers returned are started once it is released.

        With ``grow`` False (a burst) the new thread is made only while the pool is
        smaller than ``EAGER_WORKERS``: a thread for each burst of short tasks made 12
        workers after 8 fan-outs, each one more thread contending for the GIL."""
        limit = self.throttle_limit
        new_workers: list[_Worker] = []
        while self._waiting and (not limit or self._busy < limit):
            may_grow = grow or len(self._workers) < EAGER_WORKERS
            if not self._idle and (self._starting or new_workers or not may_grow):
                self._ensure_ramp()
                break
            task = self._pop_waiting()
            if task is None:
                break
            self._busy += 1
            if self._idle:
                self._idle.pop().inbox.put(task)
            else:
                new_workers.append(self._new_worker(task))
        return new_workers

    def _pop_waiting(self) -> _Task | None:
        """The first waiting task, or None. Workers with no throttle to respect take
        tasks without the lock (see _next_task), so a check for waiting tasks made under
        the lock may find none left by the time it takes one."""
        try:
            return self._waiting.popleft()
        except IndexError:
            return None

    def _hand_over(self, task: _Task) -> _Worker | None:
        """Give ``task`` to an idle worker, or make a worker (returned, to be started once
        the lock is released) if none is on its way and nothing waits; else queue it for
        the first worker free. Called with the lock held.

        A burst of short jobs then runs on a few threads (a 1 000-item fan-out made 679
        threads when each task made its own): the ramp thread adds workers while tasks
        wait and none was taken for a tick, more each tick they stay stuck, so tasks that
        block still each get a thread soon. (Doubling at once made hundreds again: a
        thread submitting holds the GIL, and the workers look stuck.)"""
        if self._idle:
            self._idle.pop().inbox.put(task)
            return None
        if self._starting or self._waiting:
            self._busy -= 1  # counted again when a worker takes it
            self._waiting.append(task)
            self._added += 1
            self._ensure_ramp()
            return None
        return self._new_worker(task)

    def _new_worker(self, task: _Task) -> _Worker:
        worker = _Worker(self, task)
        self._workers.add(worker)
        self._starting += 1
        return worker

    def _started(self) -> None:
        """A worker's thread began. While there are few workers, a job still waiting gets
        the next thread at once (two jobs started together both run at once); past
        ``EAGER_WORKERS`` the ramp decides."""
        worker = None
        with self._lock:
            self._starting -= 1
            if (
                self._waiting
                and not self._closed
                and len(self._workers) < EAGER_WORKERS
                and (not self.throttle_limit or self._busy < self.throttle_limit)
            ):
                task = self._pop_waiting()
                if task is not None:
                    self._busy += 1
                    worker = self._new_worker(task)
        if worker is not None:
            worker.thread.start()

    def _ensure_ramp(self) -> None:
        if not self._ramping and not self._closed:
            self._ramping = True
            threading.Thread(target=self._ramp, name="ipyjobs-worker-ramp", daemon=True).start()

    def _end_ramp(self, error: BaseException) -> None:
        with self._lock:  # a later burst ramps again
            self._ramping = False

    @guarded("the thread pool's ramp", then=_end_ramp)
    def _ramp(self) -> None:
        """While tasks wait: each tick in which no worker took one (all are busy, or
        blocked) and none was queued, add workers: one, then one more each tick they
        stay stuck (so a thousand blocking tasks all run within a second)."""
        stuck = 0
        while True:
            self._closing.wait(RAMP_TICK)  # a shutdown ends the wait
            new_workers = []
            with self._lock:
                if self._closed or not self._waiting:
                    self._ramping = False
                    return
                taken = self._moved()
                added, self._added = self._added, 0
                # Stuck: none taken, and none added (while a burst is being submitted,
                # the submitting thread holds the GIL: the workers only look stuck).
                stuck = 0 if taken or added else stuck + 1
                if stuck and not self._starting:
                    room = len(self._waiting)
                    if self.throttle_limit:
                        room = min(room, self.throttle_limit - self._busy)
                    for _ in range(min(room, stuck)):
                        task = self._pop_waiting()
                        if task is None:
                            break
                        self._busy += 1
                        new_workers.append(self._new_worker(task))
            for worker in new_workers:
                worker.thread.start()

    def _moved(self) -> int:
        """How many waiting tasks workers took since the ramp last asked."""
        taken = next(self._taken)
        moved, self._taken_seen = taken - self._taken_seen, taken + 1
        return moved

    def _next_task(self, worker: _Worker) -> _Task | None:
        """The worker's next task, if one waits; else it is idle. With no throttle the
        task is taken without the pool's lock: a fan-out's workers each took that lock
        for every child, and whenever the GIL left one holding it the others queued on
        it, one wake-up each (a 1 000-item fan-out took up to 3 000 context switches)."""
        if not self.throttle_limit and not self._closed:
            task = self._take_unfinished()
            if task is not None:
                return task
        with self._lock:
            if not self._closed and (not self.throttle_limit or self._busy <= self.throttle_limit):
                task = self._take_unfinished()
                if task is not None:
                    return task
            self._busy -= 1
            if self._closed:
                self._workers.discard(worker)
            else:
                self._idle.append(worker)
            return None

    def _take_unfinished(self) -> _Task | None:
        """The first waiting task whose job was not stopped while it waited, or None."""
        while (task := self._pop_waiting()) is not None:
            next(self._taken)
            if not task[0].finished:
                return task
        return None

    def _retire(self, worker: _Worker) -> bool:
        with self._lock:
            if worker in self._idle:
                self._idle.remove(worker)
                self._workers.discard(worker)
                return True
            return False

    def interrupt(self, job: Job) -> bool:
        with self._lock:
            workers = list(self._workers)
        return any(worker.interrupt(job) for worker in workers)

    def sample_workers(self) -> bool:
        """Note each running job's CPU time so far (the resource sampler calls this about
        once a second); True while a job runs."""
        with self._lock:
            workers = list(self._workers)
        busy = False
        for worker in workers:
            job, clock = worker.current, worker._clock()
            if job is not None:
                busy = True
                if clock is not None:
                    used = clock() - worker.cpu_started
                    if worker.current is job:  # still this job's: not the next one's
                        job.note_usage(used)
        return busy

    def threads(self) -> list[threading.Thread]:
        with self._lock:
            return [worker.thread for worker in self._workers]

    def shutdown(self, timeout: float = 5.0) -> None:
        """Let idle workers exit now and busy ones after their job; wait for the idle."""
        with self._lock:
            self._closed = True
            self._closing.set()
            idle, self._idle = self._idle, []
            for worker in idle:
                self._workers.discard(worker)
            waiting, self._waiting = list(self._waiting), deque()
        for worker in idle:
            worker.inbox.put(None)
        for worker in idle:
            worker.thread.join(timeout)
        for job, _ in waiting:
            job.stop_requested = True
            job.set_state(JobState.STOPPED, only_from=[JobState.NOT_STARTED])
