"""Dask jobs (``RemoteJob`` on a ``distributed`` cluster, DESIGN §15).

Each child is one task, ``dask_task.run``, submitted with a key of its own: on a worker
Dask picks (``workers="any"``, and each child of a fan-out), or on a named one. While it
runs, its records come as Dask events on a topic of this backend's own, numbered, so they
are taken in order and at once (the client's event handler), and its result says how it
ended and carries the last items.

A stop climbs a ladder, one step every ``stop_grace`` seconds, run by one thread while
some stop is pending: the cooperative flag (``check_stop()``, and ``time.sleep`` wakes),
then ``JobStopped`` raised in the worker thread running the task, then restarting that
worker (a Nanny's), which the child's reason says. A task not yet running is cancelled.
A worker that leaves the cluster under a task fails its child naming the worker, and the
task is cancelled so that Dask does not run it again (docs/decisions.md).
"""

from __future__ import annotations

import functools
import os
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cloudpickle

from ..execution.daemons import guarded, report
from ..execution.work import frame_name
from ..model.errors import DaskUnavailableError, JobStateError
from ..model.records import Stream
from ..model.state import JobState
from . import dask_task
from .dask_cluster import DaskConnection, parse_workers
from .shipping import pack_work, to_record

if TYPE_CHECKING:
    from ..manager.manager import JobManager
    from ..model.job import Job
    from . import StartRequest

#: Seconds between two looks of the stop ladder at the pending stops.
STOP_POLL_INTERVAL = 0.02
#: A fan-out keeps this many children submitted per cluster thread (see fan_out_throttle).
SUBMITTED_PER_THREAD = 4
#: Seconds to wait for a finished task's events still on their way.
EVENTS_TIMEOUT = 5.0


class WorkerLost(RuntimeError):
    """A Dask job's worker died or left the cluster while the job ran on it."""


@dataclass(eq=False)
class _Task:
    """One child job's task, as the kernel follows it."""

    job: Job
    key: str
    future: Any
    client: Any
    worker: str | None = None  # the address it runs at, once it said so
    events: dict[int, tuple[str, Any]] = field(default_factory=dict)
    next_event: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(init=False)
    stop_step: int = -1  # the ladder's last step taken
    stop_next: float = 0.0
    done: bool = False  # its last event came
    ended: bool = False  # its job was ended (by its last event, or by its future)
    outcome: Any = None  # what that event carried (None: fetch the result)
    lost: str | None = None  # the worker it was lost with
    restarted: str | None = None  # the worker restarted to stop it

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)


class DaskBackend:
    """``backend="dask"`` (implied by ``workers=``)."""

    name = "dask"
    job_type = "RemoteJob"
    confirms_stops = True  # a task the kernel thinks queued may have just started

    def __init__(self, manager: JobManager) -> None:
        self.manager = manager
        self.cluster = DaskConnection(manager)
        self.topic = f"ipyjobs-{uuid.uuid4().hex}"
        self._tasks: dict[str, _Task] = {}
        self._lock = threading.Lock()
        self._subscribed: list[Any] = []  # the clients this backend listens to
        self._stopping: set[_Task] = set()
        self._ladder: threading.Thread | None = None
        self._wake = threading.Event()
        self._ends: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._known_workers: tuple[Any, dict[str, str]] | None = None
        self._ender: threading.Thread | None = None

    # -- starting -------------------------------------------------------------------------
    def check(self, request: StartRequest) -> None:
        if request.engines is not None:
            raise JobStateError("engines= names ipyparallel engines: a Dask job takes workers=")
        client = self.cluster.client()
        self._listen(client)
        workers = self._workers(client)
        if not workers:
            raise DaskUnavailableError(
                "the Dask cluster has no workers yet: start some (dask worker ADDRESS), "
                "or wait for them to register"
            )
        spec = request.workers if request.workers is not None else self.manager.default_workers
        request.prepared["workers"] = dict(parse_workers(spec, workers))
        request.prepared["payload"] = pack_work(
            request, "a Dask job", functools.partial(frame_name, host=self.manager.host)
        )
        request.prepared["kernel_cwd"] = os.getcwd()
        request.prepared["client"] = client

    def _workers(self, client: Any) -> dict[str, str]:
        """The cluster's workers (address -> name), asked of the scheduler once and again
        only after one came or went (a start asking each time spent 3 ms of 15 on it)."""
        with self._lock:
            known = self._known_workers
        if known is None or known[0] is not client:
            workers = self.cluster.workers(client)
            with self._lock:
                self._known_workers = (client, workers)
            return workers
        return known[1]

    def _listen(self, client: Any) -> None:
        """Take this backend's events, and the cluster's workers leaving, from ``client``."""
        with self._lock:
            if any(known is client for known in self._subscribed):
                return
            self._subscribed.append(client)
        client.subscribe_topic(self.topic, self._event)
        client.subscribe_topic("all", self._cluster_event)

    def locations(self, request: StartRequest) -> list[str]:
        return list(request.prepared["workers"])

    def fan_out_throttle(self, request: StartRequest) -> int:
        """A fan-out runs as many children at once as the cluster has threads: Dask's
        scheduler holds that limit, so ipyjobs keeps a few times as many submitted
        (NotStarted, queued by Dask) and a worker that ends a task never waits for the
        kernel to send the next. (Submitting only as many as the threads, each task's
        end waited for a round trip through the kernel: 4.2x ``client.map``.)"""
        return SUBMITTED_PER_THREAD * self.cluster.threads(request.prepared["client"])

    def launch(self, child: Job, request: StartRequest) -> None:
        fanned, item = request.item_of(child)
        address = None if fanned else request.prepared["workers"][child.location]
        key = f"ipyjobs-{child.name}-{uuid.uuid4().hex}"
        order = {
            "name": child.name,
            "cwd": request.cwd,
            "kernel_cwd": request.prepared["kernel_cwd"],
            "work": request.prepared["payload"],
            "each": (request.each_name, cloudpickle.dumps(item)) if fanned else None,
        }
        client = request.prepared["client"]
        child.runner = self
        future = client.submit(
            dask_task.run,
            order,
            self.topic,
            key,
            key=key,
            workers=[address] if address else None,
            pure=False,
        )
        task = _Task(child, key, future, client)
        with self._lock:
            self._tasks[key] = task
        future.add_done_callback(lambda _: self._finished(task))
        if child.stop_requested:  # stopped while it was being sent
            self.stop(child)

    # -- following the tasks ----------------------------------------------------------------
    def _event(self, event: Any) -> None:
        """A task's event, in the client's thread: kept by number, taken in order."""
        _, message = event
        with self._lock:
            task = self._tasks.get(message.get("key"))
        if task is None:
            return
        with task.lock:
            task.events[message["n"]] = (message["kind"], cloudpickle.loads(message["value"]))
            self._take_events(task)
            task.arrived.notify_all()

    def _take_events(self, task: _Task) -> None:
        """Move the events that arrived, in order, into the job (under ``task.lock``)."""
        job = task.job
        while task.next_event in task.events:
            kind, value = task.events.pop(task.next_event)
            task.next_event += 1
            if kind == "running":
                where, task.worker = value
                self._ran_at(task, where)
                job.set_state(JobState.RUNNING, only_from=[JobState.NOT_STARTED])
            elif kind == "items":
                job.records.pending.extend(to_record(job, item) for item in value)
                job.records.collect()
            elif kind == "done":
                task.done, task.outcome = True, value
                if value is not None:  # end the job now: the future says so later
                    self._ends.put(task)
                    self._start_ender()

    @staticmethod
    def _ran_at(task: _Task, where: str) -> None:
        """A child placed by Dask is located where it runs, once it does. Its parent,
        the job the user started, stays "dask": what a job shows as text must not
        depend on when it was shown (docs/decisions.md)."""
        if task.job.location == "dask":
            task.job.location = where

    def _cluster_event(self, event: Any) -> None:
        """The scheduler's "all" topic: a worker that leaves fails the tasks it ran."""
        _, message = event
        if not isinstance(message, dict):
            return
        if message.get("action") in ("add-worker", "remove-worker"):
            with self._lock:
                self._known_workers = None  # asked again at the next start
        if message.get("action") != "remove-worker":
            return
        gone = message.get("worker")
        # The tasks it was processing, by key: one may have begun before its "running"
        # event reached the kernel.
        processing = set(message.get("processing-tasks") or ())
        with self._lock:
            lost = [
                t
                for t in self._tasks.values()
                if (t.worker == gone or t.key in processing) and not t.restarted
            ]
        for task in lost:
            task.lost = gone
        if lost:  # Dask would run them again elsewhere; not from the client's own thread
            threading.Thread(
                target=self._cancel, args=(lost,), name="ipyjobs-dask-lost", daemon=True
            ).start()

    @staticmethod
    def _cancel(tasks: list[_Task]) -> None:
        for task in tasks:
            with _quiet():
                task.client.cancel([task.future])

    def _start_ender(self) -> None:
        with self._lock:
            if self._ender is None:
                self._ender = threading.Thread(
                    target=self._end_by_events, name="ipyjobs-dask-ends", daemon=True
                )
                self._ender.start()

    def _forget_ender(self, error: BaseException) -> None:
        with self._lock:
            self._ender = None

    @guarded("ending Dask jobs", then=_forget_ender)
    def _end_by_events(self) -> None:
        """End each job whose task's last event carried its outcome, at once: its future
        says it is finished some milliseconds later (a fan-out's next child waited for
        that). Gone after a second with nothing to end."""
        while True:
            try:
                task = self._ends.get(timeout=1.0)
            except queue.Empty:
                task = None
            if task is None:  # idle for a second, or shut down
                with self._lock:
                    if self._ends.empty():
                        self._ender = None
                        return
                continue
            self._finished(task)

    def _finished(self, task: _Task) -> None:
        """End the task's job, once: from its last event, or from its future."""
        if task.restarted is not None:
            return  # cancelled to restart its worker: the ladder ends it (``_restart``)
        with task.lock:
            if task.ended:
                return
            task.ended = True
        try:
            self._finish(task)
        except Exception as error:  # ipyjobs' own bug: the job still ends
            report("finishing a Dask job", error)
            task.job.set_state(JobState.FAILED, error)
        finally:
            with self._lock:
                self._tasks.pop(task.key, None)
                self._stopping.discard(task)

    def _finish(self, task: _Task) -> None:
        job = task.job
        future = task.future
        if task.outcome is not None or future.status == "finished":
            with task.lock:  # its events, to the last, which usually says how it ended
                task.arrived.wait_for(lambda: task.done, timeout=EVENTS_TIMEOUT)
                self._take_events(task)
                outcome = task.outcome
            if outcome is None:  # too large for an event (or it was lost): fetch it
                outcome = dask_task.Outcome(*future.result())
                with task.lock:
                    task.arrived.wait_for(
                        lambda: task.next_event >= outcome.events, timeout=EVENTS_TIMEOUT
                    )
                    self._take_events(task)
            self._ran_at(task, outcome.worker)  # a task too short to say so: where it ran
            job.records.pending.extend(to_record(job, item) for item in outcome.last_items)
            job.set_state(JobState.RUNNING, only_from=[JobState.NOT_STARTED])
            job.note_usage(*outcome.usage)
            state = JobState(outcome.state)
            reason = cloudpickle.loads(outcome.reason) if outcome.reason is not None else None
        else:
            with task.lock:
                self._take_events(task)
            state, reason = self._ended_elsewhere(task)
            if reason is not None and state is JobState.FAILED:
                job.records.add(Stream.ERROR, reason, f"{type(reason).__name__}: {reason}\n")
        job.records.collect()
        job.set_state(state, reason)

    def _ended_elsewhere(self, task: _Task) -> tuple[JobState, BaseException | None]:
        """A task that returned no outcome: cancelled by a stop, lost with its worker, or
        failed by Dask itself (the scheduler gone, a task it could not run)."""
        job = task.job
        if task.lost is not None:
            name = job.location if job.location != "dask" else task.lost
            task.worker = task.worker or task.lost
            return JobState.FAILED, WorkerLost(
                f"{job.name}'s worker {name} ({task.lost}) left the cluster while it ran; "
                "it is not run again"
            )
        if job.stop_requested:
            return JobState.STOPPED, None
        try:
            error = task.future.exception(timeout=1)
        except Exception as cancelled:  # cancelled: the scheduler or the client went away
            error = cancelled
        if error is None:
            error = DaskUnavailableError("the Dask cluster dropped the task")
        return JobState.FAILED, error

    # -- control ----------------------------------------------------------------------------
    def stop(self, child: Job) -> None:
        """Climb the stop ladder for the child's task, running or not yet."""
        with self._lock:
            task = next((t for t in self._tasks.values() if t.job is child), None)
            if task is None:  # finished already, or not sent yet (launch calls again)
                return
            self._stopping.add(task)
            if self._ladder is None:
                self._ladder = threading.Thread(
                    target=self._climb, name="ipyjobs-dask-stops", daemon=True
                )
                self._ladder.start()
        self._wake.set()

    def _forget_ladder(self, error: BaseException) -> None:
        with self._lock:
            self._ladder = None

    @guarded("stopping Dask jobs", then=_forget_ladder)
    def _climb(self) -> None:
        while True:
            with self._lock:
                stopping = list(self._stopping)
                if not stopping:
                    self._ladder = None
                    return
            now = time.monotonic()
            for task in stopping:
                if now >= task.stop_next:
                    task.stop_step += 1
                    task.stop_next = now + self.manager.stop_grace
                    self._step(task)
            self._wake.wait(STOP_POLL_INTERVAL)
            self._wake.clear()

    def _step(self, task: _Task) -> None:
        """One step up the ladder. A task not known to run yet is told on every worker
        that may run it (where it starts, it stops at once), and is cancelled a step
        later if it still waits: cancelling only, it could start meanwhile and run on."""
        worker = task.worker
        if worker is None:
            if task.stop_step == 0:
                task.client.run(dask_task.stop, task.key, 0, on_error="ignore")
            else:
                with self._lock:
                    self._stopping.discard(task)
                task.client.cancel([task.future])
            return
        if task.stop_step <= 1:
            # On the worker's event loop, at once (a moment's call from this thread).
            task.client.run(
                dask_task.stop, task.key, task.stop_step, workers=[worker], on_error="ignore"
            )
            return
        with self._lock:
            self._stopping.discard(task)
        self._restart(task, worker)

    def _restart(self, task: _Task, worker: str) -> None:
        """The ladder's last step: cancel the task (so that Dask does not run it again),
        restart its worker, and end the child Stopped once the worker is back, saying so
        in its output (a Stopped job has no reason)."""
        job = task.job
        task.restarted = worker
        try:
            task.client.cancel([task.future])
            task.client.restart_workers([worker], raise_for_error=False)
        except Exception as error:
            report(f"restarting the Dask worker {worker}", error)
        text = (
            f"{job.name} did not stop within {2 * self.manager.stop_grace:g} s: its "
            f"worker {job.location} ({worker}) was restarted to stop it"
        )
        with task.lock:
            self._take_events(task)
        job.records.add(Stream.WARNING, RuntimeWarning(text), f"RuntimeWarning: {text}\n")
        job.records.collect()
        job.set_state(JobState.STOPPED)
        with self._lock:
            self._tasks.pop(task.key, None)

    def suspend(self, child: Job) -> None:
        raise JobStateError(f"{child.name} is a Dask job: a task cannot be suspended")

    def resume(self, child: Job) -> None:
        raise JobStateError(f"{child.name} is a Dask job: it is never suspended")

    def answer(self, child: Job, text: str, echo: bool) -> None:
        """A Dask task's ``input()`` fails at once (nothing can answer there)."""
        raise JobStateError(f"{child.name} is a Dask job: it never asks for input")

    def shutdown(self) -> None:
        """Give up on tasks that did not end, stop listening, and close the client ipyjobs
        connected itself (a client the user gave stays theirs)."""
        with self._lock:
            left = list(self._tasks.values())
            clients, self._subscribed = self._subscribed, []
        for task in left:
            with _quiet():
                task.client.cancel([task.future])
        for client in clients:
            for topic in (self.topic, "all"):
                with _quiet():
                    client.unsubscribe_topic(topic)
        self._wake.set()
        ladder, ender = self._ladder, self._ender
        if ladder is not None:
            ladder.join(30)  # a worker's restart in progress
        if ender is not None:
            self._ends.put(None)
            ender.join(5)
        self.cluster.close()


def _quiet() -> Any:
    import contextlib

    return contextlib.suppress(Exception)
