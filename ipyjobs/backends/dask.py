"""Dask jobs (``RemoteJob`` on a ``distributed`` cluster, DESIGN §15).

Each child is one task, ``dask_task.run``, submitted with a key of its own: on a worker
Dask picks (``workers="any"``, and each child of a fan-out), or on a named one. While it
runs, its records come as Dask events on a topic of this backend's own, numbered, so they
are taken in order and at once (the client's event handler), and its result says how it
ended and carries the last items.

A stop climbs a ladder (``dask_stops``): the cooperative flag, then ``JobStopped``
raised in the worker thread running the task, then restarting that worker (a Nanny's),
which the child's output says. A task not yet running is cancelled.
A worker that leaves the cluster under a task fails its child naming the worker, and the
task is cancelled so that Dask does not run it again (docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import functools
import os
import queue
import threading
import uuid
from typing import TYPE_CHECKING, Any

import cloudpickle

from ..execution.daemons import guarded, report
from ..execution.work import frame_name
from ..model.errors import DaskUnavailableError, JobStateError
from ..model.records import Stream
from ..model.state import JobState
from . import dask_task
from .dask_cluster import DaskConnection, parse_workers
from .dask_followed import FollowedTask
from .dask_stops import StopLadder
from .shipping import pack_work, to_record

if TYPE_CHECKING:
    from ..manager.manager import JobManager
    from ..model.job import Job
    from . import StartRequest

#: Seconds to wait for a finished task's events still on their way.
EVENTS_TIMEOUT = 5.0


class WorkerLost(RuntimeError):
    """A Dask job's worker died or left the cluster while the job ran on it."""


class DaskBackend:
    """``backend="dask"`` (implied by ``workers=``)."""

    name = "dask"
    job_type = "RemoteJob"
    confirms_stops = True  # a task the kernel thinks queued may have just started

    def __init__(self, manager: JobManager) -> None:
        self.manager = manager
        self.cluster = DaskConnection(manager)
        self.topic = f"ipyjobs-{uuid.uuid4().hex}"
        self._tasks: dict[str, FollowedTask] = {}  # by key
        self._task_of: dict[int, FollowedTask] = {}  # by job id (a stop finds it)
        self._lock = threading.Lock()
        self._subscribed: list[Any] = []  # the clients this backend listens to
        self._ladder = StopLadder(lambda: manager.stop_grace, self._restarted)
        self._ends: queue.SimpleQueue[FollowedTask | None] = queue.SimpleQueue()
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

    def fan_out_throttle(self, request: StartRequest) -> None:
        """A fan-out's children are all submitted at once (``launch_many``), and Dask's
        scheduler runs as many at a time as the cluster has threads: the default
        throttle is held there, with no round trip through the kernel between one task
        and the next. (Keeping four per thread submitted, each refill its own graph,
        took 1.7-2.1x ``client.map``.) An explicit ``throttle=`` is kept by ipyjobs."""
        return None

    def launch(self, child: Job, request: StartRequest) -> None:
        self.launch_many([child], request)

    def launch_many(self, children: list[Job], request: StartRequest) -> None:
        """Submit the children's tasks as one graph (``client.map``): the scheduler
        takes a thousand in one update, not a thousand updates."""
        client = request.prepared["client"]
        orders, keys, placed = [], [], []
        for child in children:
            fanned, item = request.item_of(child)
            keys.append(f"ipyjobs-{child.name}-{uuid.uuid4().hex}")
            placed.append(None if fanned else request.prepared["workers"][child.location])
            orders.append(
                {
                    "name": child.name,
                    "cwd": request.cwd,
                    "kernel_cwd": request.prepared["kernel_cwd"],
                    "work": request.prepared["payload"],  # one object: pickled once
                    "each": (request.each_name, cloudpickle.dumps(item)) if fanned else None,
                }
            )
            child.runner = self
        if len(set(placed)) == 1:  # one graph for all (a fan-out, or one child)
            futures = client.map(
                dask_task.run,
                orders,
                [self.topic] * len(orders),
                keys,
                key=keys,
                workers=[placed[0]] if placed[0] else None,
                pure=False,
            )
        else:
            futures = [
                client.submit(
                    dask_task.run, order, self.topic, key, key=key, workers=[where], pure=False
                )
                for order, key, where in zip(orders, keys, placed, strict=True)
            ]
        tasks = [
            FollowedTask(child, key, future, client, placed=where)
            for child, key, future, where in zip(children, keys, futures, placed, strict=True)
        ]
        with self._lock:
            for task in tasks:
                self._tasks[task.key] = task
                self._task_of[task.job.id] = task
        client.loop.add_callback(self._watch_futures, tasks)
        for task in tasks:
            if task.job.stop_requested:  # stopped while it was being sent
                self.stop(task.job)

    def _watch_futures(self, tasks: list[FollowedTask]) -> None:
        """(In the client's event loop.) Hear of each task's future finishing, however
        it finishes: one callback for the batch, where ``Future.add_done_callback``
        wakes the loop once per future to start the same wait (``done_callback``), and
        then a thread of its own to call back (a fan-out of a thousand spent a tenth of
        its time there)."""
        from distributed.client import done_callback

        for task in tasks:
            ended = functools.partial(self._ended, task)
            task.watcher = asyncio.ensure_future(
                done_callback(task.future, lambda _, ended=ended: ended())
            )

    def _ended(self, task: FollowedTask) -> None:
        """(In the client's event loop: nothing that waits.) The task's future finished:
        its job is ended by the ender thread, unless its last event did that."""
        if not task.ended:
            self._ends.put(task)
            self._start_ender()

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

    def _take_events(self, task: FollowedTask) -> None:
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
    def _ran_at(task: FollowedTask, where: str) -> None:
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
        if message.get("action") not in ("add-worker", "remove-worker"):
            return
        with self._lock:
            known, self._known_workers = self._known_workers, None  # asked at next start
        if message.get("action") != "remove-worker":
            return
        gone = str(message.get("worker"))
        # The tasks it was processing, by key: one may have begun before its "running"
        # event reached the kernel. Of a worker the stop ladder restarted, only those
        # that had begun: the others never will there, and Dask runs them elsewhere,
        # unless they are pinned to it: those, like every task pinned to a worker that
        # left, can run nowhere else (a worker comes back at a new address).
        processing = set(message.get("processing-tasks") or ())
        began = self._ladder.began_before_restart(gone)
        lost = []
        with self._lock:
            for task in self._tasks.values():
                if task.restarted:
                    continue
                ran = task.worker == gone or (
                    task.key in processing and (began is None or task.key in began)
                )
                if ran or task.placed == gone:
                    task.lost_waiting = not ran
                    lost.append(task)
        for task in lost:
            task.lost = gone
            task.lost_name = known[1].get(gone, gone) if known is not None else gone
        if lost:  # Dask would run them again elsewhere; not from the client's own thread
            threading.Thread(
                target=self._cancel, args=(lost,), name="ipyjobs-dask-lost", daemon=True
            ).start()

    @staticmethod
    def _cancel(tasks: list[FollowedTask]) -> None:
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
        """End each job whose task's last event carried its outcome, at once (its future
        says it is finished some milliseconds later: a fan-out's next child waited for
        that), or whose future finished without one. Gone after a second with nothing
        to end."""
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

    def _finished(self, task: FollowedTask) -> None:
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
                self._forget(task)
            self._ladder.ended(task)

    def _forget(self, task: FollowedTask) -> None:
        """(Under ``self._lock``.) The task ended: it is followed no more."""
        self._tasks.pop(task.key, None)
        if self._task_of.get(task.job.id) is task:
            del self._task_of[task.job.id]

    def _finish(self, task: FollowedTask) -> None:
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

    def _ended_elsewhere(self, task: FollowedTask) -> tuple[JobState, BaseException | None]:
        """A task that returned no outcome: cancelled by a stop, lost with its worker, or
        failed by Dask itself (the scheduler gone, a task it could not run)."""
        job = task.job
        if task.lost is not None:
            task.worker = task.worker or task.lost
            name = task.lost_name or task.lost
            worker = name if name == task.lost else f"{name} ({task.lost})"
            if task.lost_waiting:
                return JobState.FAILED, WorkerLost(
                    f"{job.name} was to run on worker {worker}, which left the cluster "
                    "before it began; it does not run elsewhere"
                )
            return JobState.FAILED, WorkerLost(
                f"{job.name}'s worker {worker} left the cluster while it ran; it is not run again"
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
        self.stop_many([child])

    def stop_many(self, children: list[Job]) -> None:
        """Climb the ladder for the tasks of several children together (a fan-out's)."""
        with self._lock:
            tasks = [self._task_of.get(child.id) for child in children]
        # (None: finished already, or not sent yet: ``launch`` calls again.)
        self._ladder.climb([task for task in tasks if task is not None])

    def _restarted(self, task: FollowedTask, worker: str) -> None:
        """The ladder restarted the task's worker to stop it: the child ends Stopped,
        saying so in its output (a Stopped job has no reason)."""
        job = task.job
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
            self._forget(task)

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
        self._ladder.close()  # after a worker's restart in progress
        ender = self._ender
        if ender is not None:
            self._ends.put(None)
            ender.join(5)
        self.cluster.close()


def _quiet() -> Any:
    import contextlib

    return contextlib.suppress(Exception)
