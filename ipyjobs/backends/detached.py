"""Detached process jobs (``detach=True``): process jobs that outlive the kernel.

The job's process runs under a supervisor of its own (``detached_child``), writes every
record to its spool as it is produced, and is listed in the job store. The kernel that
started it follows the spool (every ``FOLLOW_INTERVAL`` seconds; no event tells when
another process appended to a file) and streams what arrives into the job as a process
job's pipe would: live widgets, partial receives and ``has_more_data`` work unchanged.
When the manager shuts down (the kernel exits or restarts) it stops following and lets
the job run; the store keeps its row, pid and spool.

A stop writes the stop file (the job's ``check_stop()`` sees it), then climbs SIGINT,
SIGTERM, SIGKILL, each sent only after the pid's start time was checked: never to a
process that reused the pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

import cloudpickle

from ..errors import JobArgumentError, JobStateError
from ..records import Stream
from ..spool import SpoolReader
from ..state import JobState
from ..store import JobStore, StoredJob, is_alive, this_process
from . import detached_child
from .process import ChildProcessExited
from .shipping import pack_work, to_record

if TYPE_CHECKING:
    from ..job import Job
    from ..manager import JobManager
    from . import StartRequest

#: Seconds between two reads of a followed job's spool.
FOLLOW_INTERVAL = 0.05


def scope() -> str:
    """The scope detached jobs are listed in: the notebook, as the server names it in
    ``JPY_SESSION_NAME``, else the working directory."""
    return os.environ.get("JPY_SESSION_NAME") or os.getcwd()


class _Followed:
    """The kernel's side of one detached child."""

    def __init__(self, job: Job, folder: str) -> None:
        self.job = job
        self.folder = folder
        self.reader = SpoolReader(os.path.join(folder, detached_child.RECORDS))
        self.pid: int | None = None
        self.pid_start: int | None = None
        self.finished = threading.Event()

    def alive(self) -> bool:
        return is_alive(self.pid, self.pid_start)

    def signal(self, signum: int) -> None:
        if self.alive():  # the pid is still the job's process: its start time matches
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)  # type: ignore[arg-type]


class DetachedBackend:
    """``detach=True``: ProcessJobs whose processes do not end with the kernel."""

    name = "detached"
    job_type = "ProcessJob"
    confirms_stops = True  # NotStarted until its process says it runs
    #: Its jobs run on when the manager shuts down (the kernel exits or restarts).
    outlives_manager = True

    def __init__(self, manager: JobManager) -> None:
        self.manager = manager
        self._followed: dict[int, _Followed] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()

    # -- starting -----------------------------------------------------------------------
    def check(self, request: StartRequest) -> None:
        if request.engines is not None:
            raise JobArgumentError("detach=True runs a process job: engines= cannot be given")
        if request.cwd is not None and not os.path.isdir(request.cwd):
            raise JobArgumentError(f"cwd {request.cwd!r} is not a directory")
        request.prepared["store"] = self.manager.job_store()  # a bad store_dir: refused now
        request.prepared["payload"] = pack_work(
            request, "a detached job", self.manager.host.cell_name
        )

    def locations(self, request: StartRequest) -> list[str]:
        return ["localhost"]

    def launch(self, child: Job, request: StartRequest) -> None:
        store: JobStore = request.prepared["store"]
        parent = child.parent
        assert parent is not None
        child.instance_id  # noqa: B018  (made now: the store names jobs by it)
        folder = store.new_spool(str(child.instance_id))
        task = {
            "name": child.name,
            "location": child.location,
            "cwd": request.cwd or os.getcwd(),
            "work": request.prepared["payload"],
        }
        task_path = os.path.join(folder, detached_child.TASK)
        with open(os.open(task_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(cloudpickle.dumps(task))
        holder, where, now = this_process(), scope(), time.time()
        for job, parent_id in ((parent, None), (child, str(parent.instance_id))):
            store.add(
                StoredJob(
                    instance_id=str(job.instance_id),
                    id=job.id,
                    name=job.name,
                    job_type=job.job_type,
                    state=job.state.value,
                    command=job.command,
                    location=job.location,
                    scope=where,
                    parent=parent_id,
                    begin_time=now,
                    spool=folder,
                    holder=holder,
                )
            )
        followed = _Followed(child, folder)
        child.runner = self
        with self._lock:
            self._followed[child.id] = followed
        threading.Thread(
            target=self._start_and_follow,
            args=(followed, store),
            daemon=True,
            name=f"ipyjobs-detached-{child.id}",
        ).start()

    def _start_and_follow(self, followed: _Followed, store: JobStore) -> None:
        job = followed.job
        try:
            detached_child.start(followed.folder)
        except Exception as error:  # no supervisor: the job never ran
            job.records.add(Stream.ERROR, error, f"{job.name} could not start: {error}\n")
            job.records.collect()
            self._end(followed, store, JobState.FAILED, error)
            return
        self._follow(followed, store)

    # -- following the spool -----------------------------------------------------------
    def _follow(self, followed: _Followed, store: JobStore) -> None:
        job = followed.job
        while not self._closing.is_set():
            for message in followed.reader.read():
                kind = message[0]
                if kind == "process":
                    followed.pid, followed.pid_start = message[1], message[2]
                    store.update(str(job.instance_id), pid=message[1], pid_start=message[2])
                elif kind == "running":
                    if job.state is JobState.NOT_STARTED:
                        self._record_state(store, job, JobState.RUNNING)
                        job.set_state(JobState.RUNNING, only_from=[JobState.NOT_STARTED])
                elif kind == "items":
                    job.records.pending.extend(to_record(job, item) for item in message[1])
                    job.records.collect()
                elif kind == "done":
                    reason = cloudpickle.loads(message[2]) if message[2] is not None else None
                    state = JobState(message[1])
                    if state is JobState.FAILED and isinstance(reason, ChildProcessExited):
                        job.records.add(Stream.ERROR, reason, f"{reason}\n")
                        job.records.collect()
                    self._end(followed, store, state, reason)
                    return
            self._closing.wait(FOLLOW_INTERVAL)
        with self._lock:  # the manager shuts down: the job runs on, unwatched
            self._followed.pop(job.id, None)
        store.release(str(job.parent.instance_id if job.parent else job.instance_id))
        followed.finished.set()

    def _end(self, followed: _Followed, store: JobStore, state: JobState, reason: Any) -> None:
        job = followed.job
        self._record_state(store, job, state, reason)  # first: whoever sees it ended
        job.set_state(state, reason)  # finds the store saying so too
        with self._lock:
            self._followed.pop(job.id, None)
        followed.finished.set()

    @staticmethod
    def _record_state(store: JobStore, job: Job, state: JobState, reason: Any = None) -> None:
        """The child's state, and its parent's (a local job's parent mirrors its one
        child), as the store lists them."""
        text = f"{type(reason).__name__}: {reason}" if reason is not None else None
        end = time.time() if state.finished else None
        for member in (job, job.parent):
            if member is not None:
                store.update(str(member.instance_id), state=state.value, reason=text, end_time=end)

    # -- control ----------------------------------------------------------------------
    def _handle(self, child: Job) -> _Followed | None:
        with self._lock:
            return self._followed.get(child.id)

    def stop(self, child: Job) -> None:
        followed = self._handle(child)
        if followed is not None:
            threading.Thread(
                target=self._escalate,
                args=(followed,),
                daemon=True,
                name=f"ipyjobs-stop-{child.id}",
            ).start()

    def _escalate(self, followed: _Followed) -> None:
        with contextlib.suppress(OSError):
            open(os.path.join(followed.folder, detached_child.STOP), "x").close()
        grace = self.manager.stop_grace
        for step in (None, signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if step is not None:
                followed.signal(step)
            if followed.finished.wait(grace if step is not signal.SIGKILL else 5):
                return

    def suspend(self, child: Job) -> None:
        raise JobStateError(f"{child.name} is a detached job: it cannot be suspended")

    resume = suspend

    def shutdown(self) -> None:
        """Stop following: the detached jobs run on, and the store lets another kernel
        attach them."""
        self._closing.set()
        with self._lock:
            followed = list(self._followed.values())
        for each in followed:
            each.finished.wait(5)
