"""Remote jobs (``RemoteJob``) on ipyparallel engines: one child job per engine, as
``Invoke-Command -ComputerName a,b -AsJob`` makes one child per computer.

ipyjobs does not reach other machines itself: ipyparallel's launchers do (local, SSH, MPI,
Slurm and other batch systems), and a job's code does not change with them. Each child is
one apply request to its engine running ``engine_task.run``; its records arrive
as data messages while it runs (see ``engine_task``), and one monitor thread, alive only
while some task is outstanding, moves them into the child's records.

Stopping aborts a task still queued on its engine and interrupts a running one with
SIGINT, repeated every ``stop_grace`` seconds until it ends (an engine is the user's, so
it is never killed). An engine that dies or leaves the cluster fails its child with
``EngineLost``; the other children go on.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cloudpickle

from ..execution.daemons import guarded
from ..execution.work import frame_name
from ..model.errors import EnginesUnavailableError, JobStateError
from ..model.records import Stream
from ..model.state import JobState
from . import engine_task
from .engine_cluster import ClusterConnection, import_ipyparallel, location, parse_engines
from .shipping import pack_work, to_record

if TYPE_CHECKING:
    from ..manager.manager import JobManager
    from ..model.job import Job
    from . import StartRequest

#: Seconds between two pushes of a pending stop (interrupt again, or call it queued).
STOP_POLL_INTERVAL = 0.02
#: Seconds the monitor thread waits for a next task before it ends.
MONITOR_LINGER = 1.0
#: Seconds to wait for a finished task's last data messages.
OUTPUT_TIMEOUT = 5.0
#: Seconds after which a stopped task that never said it runs is taken to be queued.
QUEUED_GRACE = 0.5


class EngineLost(RuntimeError):
    """A remote job's engine died or left the cluster while the job was on it."""


@dataclass(eq=False)
class _Task:
    """One child job's apply on its engine, as the monitor follows it."""

    job: Job
    engine: int
    client: Any  # the ipyparallel Client it was sent with
    future: Any  # ipyparallel MessageFuture: its result, or the exception that ended it
    next_key: int = 0
    running: bool = False
    interrupted_at: float | None = None
    stop_asked_at: float | None = None
    done: threading.Event = field(default_factory=threading.Event)


class EnginesBackend:
    """``backend="engines"`` (implied by ``engines=``)."""

    name = "engines"
    job_type = "RemoteJob"
    confirms_stops = True  # a task the kernel thinks queued may have just started

    def __init__(self, manager: JobManager) -> None:
        self.manager = manager
        self.cluster = ClusterConnection(manager)
        self._tasks: dict[int, _Task] = {}
        self._lock = threading.Lock()
        self._monitor: threading.Thread | None = None
        self._wake = threading.Event()  # something below is waiting for the monitor
        self._with_data: collections.deque[_Task] = collections.deque()
        self._finished: collections.deque[_Task] = collections.deque()
        self._stopping: set[_Task] = set()
        self._closing = False
        self._pickled_task: Any = None

    # -- starting -------------------------------------------------------------------------
    def check(self, request: StartRequest) -> None:
        client = self.cluster.client()
        available = sorted(client.ids)
        if not available:
            raise EnginesUnavailableError(
                "the cluster has no engines yet: start some with `ipcluster engines -n 4`"
                " (or Cluster.start_engines), or wait for them to register"
            )
        spec = request.engines if request.engines is not None else self.manager.default_engines
        engines = parse_engines(spec, available, self._least_busy)
        hosts = self.cluster.engine_hosts(client, engines)
        request.prepared["engines"] = {
            location(engine, hosts.get(engine)): engine for engine in engines
        }
        request.prepared["payload"] = pack_work(
            request, "a remote job", functools.partial(frame_name, host=self.manager.host)
        )
        request.prepared["kernel_cwd"] = os.getcwd()

    def _least_busy(self, available: list[int]) -> int:
        """The engine with the fewest of this kernel's tasks on it (the lowest id of
        those): ``engines="any"`` spreads single jobs over the cluster."""
        with self._lock:
            load = {engine: 0 for engine in available}
            for task in self._tasks.values():
                if task.engine in load:
                    load[task.engine] += 1
        return min(available, key=lambda engine: (load[engine], engine))

    def locations(self, request: StartRequest) -> list[str]:
        return list(request.prepared["engines"])

    def fan_out_throttle(self, request: StartRequest) -> int:
        """A fan-out runs one child per engine at a time by default."""
        return len(request.prepared["engines"])

    def launch(self, child: Job, request: StartRequest) -> None:
        fanned, item = request.item_of(child)
        if fanned:  # a fan-out's child goes to the least busy of the chosen engines
            engine = self._least_busy(sorted(request.prepared["engines"].values()))
        else:
            engine = request.prepared["engines"][child.location]
        order = {
            "name": child.name,
            "location": child.location,
            "cwd": request.cwd,
            "kernel_cwd": request.prepared["kernel_cwd"],
            "work": request.prepared["payload"],
            "each": (request.each_name, cloudpickle.dumps(item)) if fanned else None,
        }
        client = self.cluster.client()
        future = self.cluster.send(client, engine, self._engine_task(), order)
        child.runner = self
        task = _Task(child, engine, client, future)
        with self._lock:
            self._tasks[child.id] = task
            if self._monitor is None:
                self._monitor = threading.Thread(
                    target=self._follow, name="ipyjobs-engines", daemon=True
                )
                self._monitor.start()
        # A data message that came before this line is taken with the next one (one
        # flush later at most) or with the result.
        future.iopub_callbacks.append(lambda message: self._message_arrived(task, message))
        future.add_done_callback(lambda _: self._result_arrived(task))
        if child.stop_requested:  # stopped while it was being sent
            self.stop(child)

    def _engine_task(self) -> Any:
        """``engine_task.run``, pickled once: ipyparallel would otherwise serialize the
        function's code again for every child (about 0.2 ms of a 1.1 ms apply)."""
        if self._pickled_task is None:
            from ipyparallel.serialize import PrePickled

            self._pickled_task = PrePickled(engine_task.run)
        return self._pickled_task

    # -- following the tasks ----------------------------------------------------------------
    def _forget_monitor(self, error: BaseException) -> None:
        with self._lock:  # the next launch starts another
            self._monitor = None

    @guarded("following the engines' tasks", then=_forget_monitor)
    def _follow(self) -> None:
        """Take each task's data as it arrives and finish each task as its result does
        (ipyparallel's IO thread wakes this thread for both), and every
        ``STOP_POLL_INTERVAL`` push the stops still pending. Nothing is polled otherwise:
        a hundred quiet tasks cost nothing."""
        next_stop_push = 0.0
        idle_since: float | None = None
        while True:
            with self._lock:
                if self._tasks:
                    idle_since = None
                else:  # linger a moment: the next job need not start a thread
                    idle_since = idle_since or time.monotonic()
                    if self._closing or time.monotonic() - idle_since >= MONITOR_LINGER:
                        self._monitor = None
                        return
                stopping = list(self._stopping)
            while self._with_data:
                self._take_data(self._with_data.popleft())
            while self._finished:
                self._finish(self._finished.popleft())
            pause: float | None = None  # until woken
            if stopping:
                now = time.monotonic()
                if now >= next_stop_push:
                    next_stop_push = now + STOP_POLL_INTERVAL
                    for task in stopping:
                        if not task.done.is_set():
                            self._stop_more(task)
                pause = max(0.0, next_stop_push - time.monotonic())
            elif idle_since is not None:  # sleep until a job comes or the linger is over
                pause = max(0.0, MONITOR_LINGER - (time.monotonic() - idle_since))
            self._wake.wait(pause)
            self._wake.clear()

    def _message_arrived(self, task: _Task, message: dict[str, Any]) -> None:
        """Called in ipyparallel's IO thread for each IOPub message of the task, once the
        client has stored it: a data message wakes the monitor to take it."""
        if message["header"]["msg_type"] == "data_message":
            self._with_data.append(task)
            self._wake.set()

    def _result_arrived(self, task: _Task) -> None:
        """Called in ipyparallel's IO thread: hand the task to the monitor at once."""
        self._finished.append(task)
        self._wake.set()

    def _take_data(self, task: _Task) -> None:
        """Move the task's data messages that arrived, in order, into its job."""
        data = task.future.output.metadata["data"]  # the client puts data messages here
        job = task.job
        while True:
            entry = data.pop(f"{engine_task.KEY}{task.next_key}", None)
            if entry is None:
                return
            task.next_key += 1
            kind, value = entry
            if kind == "running":
                task.running = True
                job.set_state(JobState.RUNNING, only_from=[JobState.NOT_STARTED])
            elif kind == "usage":
                job.note_usage(*value)
            else:
                job.records.pending.extend(to_record(job, item) for item in value)
                job.records.collect()

    def _finish(self, task: _Task) -> None:
        job = task.job
        self._take_data(task)  # what arrived before the result, even if the task failed
        ipyparallel = import_ipyparallel()
        reason: BaseException | None = None
        result = task.future.result(0)  # the client stores a failure as the result
        if isinstance(result, ipyparallel.error.TaskAborted):
            state = JobState.STOPPED
        elif isinstance(result, BaseException):
            state, reason = self._remote_failure(task, result)
        else:
            outcome = engine_task.Outcome(*result)
            if task.next_key < outcome.data_messages:  # some are still on their way
                task.future.output.wait(OUTPUT_TIMEOUT)
                self._take_data(task)
            job.records.pending.extend(to_record(job, item) for item in outcome.last_items)
            # A job shorter than the first flush never said it runs: it did.
            job.set_state(JobState.RUNNING, only_from=[JobState.NOT_STARTED])
            state = JobState(outcome.state)
            reason = cloudpickle.loads(outcome.reason) if outcome.reason is not None else None
            if outcome.usage is not None:
                job.note_usage(*outcome.usage)
        job.records.collect()
        job.set_state(state, reason)
        with self._lock:
            self._tasks.pop(job.id, None)
            self._stopping.discard(task)
        self._forget(task)
        task.done.set()

    def _remote_failure(self, task: _Task, error: Any) -> tuple[JobState, BaseException | None]:
        """The task failed outside the work: the engine was lost or interrupted between
        tasks, or ipyjobs could not run there."""
        job = task.job
        if error.ename == "KeyboardInterrupt" and job.stop_requested:
            return JobState.STOPPED, None
        if error.ename == "EngineError":
            reason: BaseException = EngineLost(
                f"{job.name}'s engine {task.engine} ({job.location}) was lost: {error.evalue}"
            )
            text = f"{reason}\n"
        else:
            reason = error
            text = "\n".join(error.traceback) if error.traceback else f"{error}"
            text = text.rstrip("\n") + "\n"
        job.records.add(Stream.ERROR, reason, text)
        return JobState.FAILED, reason

    def _forget(self, task: _Task) -> None:
        """Drop what the client keeps of the finished task: its msg_id in the history
        (kept for every request), and its result and metadata where the client does not
        purge them itself."""
        client, msg_id = task.client, task.future.msg_id
        client.results.pop(msg_id, None)
        client.metadata.pop(msg_id, None)
        if msg_id in client.history:
            client.history.remove(msg_id)

    # -- control ----------------------------------------------------------------------------
    def stop(self, child: Job) -> None:
        """Abort the task in case it is still queued; the monitor interrupts it if it
        runs, or calls it Stopped once it has not started for ``QUEUED_GRACE`` seconds."""
        with self._lock:
            task = self._tasks.get(child.id)
            if task is None:  # finished already, or not sent yet (launch calls again)
                return
            self._stopping.add(task)
        if not task.running:
            task.stop_asked_at = time.monotonic()
            with contextlib.suppress(OSError):  # the client was closed: nothing to abort
                task.client.abort(jobs=[task.future.msg_id], targets=[task.engine], block=False)
        self._wake.set()

    def _stop_more(self, task: _Task) -> None:
        now = time.monotonic()
        if not task.running:
            # Its "running" message would be here by now: it waits behind other work on
            # its engine, which will drop it (aborted) when it comes to it.
            asked = task.stop_asked_at
            if asked is not None and now - asked >= QUEUED_GRACE:
                task.job.set_state(JobState.STOPPED)
        elif task.interrupted_at is None or now - task.interrupted_at >= self.manager.stop_grace:
            task.interrupted_at = now
            with contextlib.suppress(OSError):
                task.client.send_signal(signal.SIGINT, targets=[task.engine], block=False)

    def suspend(self, child: Job) -> None:
        raise JobStateError(f"{child.name} is a remote job: an engine's task cannot be suspended")

    def resume(self, child: Job) -> None:
        raise JobStateError(f"{child.name} is a remote job: it is never suspended")

    def answer(self, child: Job, text: str, echo: bool) -> None:
        """An engine's ``input()`` fails at once (nothing can answer there: DESIGN §9),
        so a remote job is never Blocked."""
        raise JobStateError(f"{child.name} is a remote job: it never asks for input")

    def shutdown(self) -> None:
        """Give up on tasks that did not end (their engines stay the user's), then close
        the client ipyjobs connected itself."""
        with self._lock:
            tasks = list(self._tasks.values())
        for task in tasks:
            task.done.wait(1.0)
        with self._lock:
            left = list(self._tasks.values())
            self._tasks.clear()
        for task in left:
            task.job.set_state(
                JobState.STOPPED, only_from=[JobState.NOT_STARTED, JobState.STOPPING]
            ) or task.job.set_state(JobState.FAILED, EngineLost("the engine did not answer"))
        monitor = self._monitor
        if monitor is not None:
            self._closing = True
            self._wake.set()
            monitor.join(5)
        self.cluster.close()
