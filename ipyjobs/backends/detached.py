"""Detached process jobs (``detach=True``): process jobs that outlive the kernel.

The job's process runs under a supervisor of its own (``detached_child``), writes every
record to its spool as it is produced, and is listed in the job store. The kernel that
started it follows the spool (every ``FOLLOW_INTERVAL`` seconds; no event tells when
another process appended to a file) and streams what arrives into the job as a process
job's pipe would: live widgets, partial receives and ``has_more_data`` work unchanged.
When the manager shuts down (the kernel exits or restarts) it stops following and lets
the job run; the store keeps its row, pid and spool.

A stop writes the stop file (the job's ``check_stop()`` sees it), continues a suspended
process, then climbs SIGINT, SIGTERM, SIGKILL, each sent only after the pid's start time
was checked: never to a process that reused the pid. Suspend and resume are SIGSTOP and
SIGCONT, as for any process job; the store keeps ``Suspended``, and a kernel attaching
later sees the process stopped, so the job stays Suspended across kernels.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import threading
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

import cloudpickle

from ..execution.daemons import report
from ..execution.resources import process_usage
from ..execution.work import frame_name
from ..model.errors import JobArgumentError, JobStateError
from ..model.records import Stream
from ..model.state import JobState
from . import detached_child, renamed
from .detached_notify import write_plan
from .followed import EndedElsewhere, Followed, record_state, scope
from .process import ChildProcessExited, climb_stop_ladder, in_stop_thread, wait_for_status
from .shipping import pack_work, to_record
from .spool import read_end, reserve_end
from .store import JobStore, StoredJob, StoreError, store_error, this_process

if TYPE_CHECKING:
    from ..manager.manager import JobManager
    from ..model.job import Job
    from . import StartRequest

#: Seconds between two reads of a followed job's spool.
FOLLOW_INTERVAL = 0.05
#: Seconds a job whose process is gone may stay silent before it is taken as ended
#: unseen (its supervisor, which records how it ended, was gone too).
UNSEEN_END = 2.0


class DetachedBackend:
    """``detach=True``: ProcessJobs whose processes do not end with the kernel."""

    name = "detached"
    job_type = "ProcessJob"
    confirms_stops = True  # NotStarted until its process says it runs
    #: Its jobs run on when the manager shuts down (the kernel exits or restarts).
    outlives_manager = True

    def __init__(self, manager: JobManager) -> None:
        self.manager = manager
        self._followed: dict[int, Followed] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._store: JobStore | None = None
        manager.change_listeners.append(self._removed)

    # -- starting -----------------------------------------------------------------------
    def check(self, request: StartRequest) -> None:
        if request.engines is not None:
            raise JobArgumentError("detach=True runs a process job: engines= cannot be given")
        if request.cwd is not None and not os.path.isdir(request.cwd):
            raise JobArgumentError(f"cwd {request.cwd!r} is not a directory")
        request.prepared["store"] = self.manager.job_store()  # a bad store_dir: refused now
        request.prepared["payload"] = pack_work(
            request, "a detached job", functools.partial(frame_name, host=self.manager.host)
        )

    def locations(self, request: StartRequest) -> list[str]:
        return ["localhost"]

    def launch(self, child: Job, request: StartRequest) -> None:
        store: JobStore = request.prepared["store"]
        self._store = store
        parent = child.parent
        assert parent is not None
        child.instance_id  # noqa: B018  (made now: the store names jobs by it)
        task = {
            "name": child.name,
            "location": child.location,
            "cwd": request.cwd or os.getcwd(),
            "work": request.prepared["payload"],
        }
        folder = store.new_spool(str(child.instance_id))
        try:
            self._write_spool(store, folder, cloudpickle.dumps(task))
            if request.notify is not None:  # its supervisor notifies (DESIGN §13)
                try:
                    write_plan(folder, request.notify, parent.id, parent.name, scope())
                except OSError as error:
                    raise store_error(store.path, error, store.busy_timeout) from None
            self._add_rows(store, folder, parent, child)
        except BaseException:  # a full disk, a store held elsewhere: no job is left
            shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(StoreError):
                store.remove(str(parent.instance_id))
            raise
        followed = Followed(child, folder)
        followed.mark_received(store)
        child.runner = self
        with self._lock:
            self._followed[child.id] = followed
        self._in_background(self._start_and_follow, followed, store)

    @staticmethod
    def _write_spool(store: JobStore, folder: str, task: bytes) -> None:
        """The job's task, its empty spool and its reserved end, before anything runs."""
        try:
            path = os.path.join(folder, detached_child.TASK)
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
                f.write(task)
            records = os.path.join(folder, detached_child.RECORDS)
            os.close(os.open(records, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            reserve_end(os.path.join(folder, detached_child.END))
        except OSError as error:
            raise store_error(store.path, error, store.busy_timeout) from None

    @staticmethod
    def _add_rows(store: JobStore, folder: str, parent: Job, child: Job) -> None:
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

    @staticmethod
    def _in_background(follow: Any, followed: Followed, store: JobStore) -> None:
        """The one thread that follows a child's spool (and, for a new job, starts it)."""
        threading.Thread(
            target=follow,
            args=(followed, store),
            daemon=True,
            name=f"ipyjobs-detached-{followed.job.id}",
        ).start()

    def _start_and_follow(self, followed: Followed, store: JobStore) -> None:
        job = followed.job
        try:
            detached_child.start(followed.folder)
        except Exception as error:  # no supervisor: the job never ran
            job.records.add(Stream.ERROR, error, f"{job.name} could not start: {error}\n")
            job.records.collect()
            self._end(followed, store, JobState.FAILED, error)
            return
        self._guarded_follow(followed, store)

    def _guarded_follow(self, followed: Followed, store: JobStore) -> None:
        """Follow the spool; an error nothing here foresaw ends the job Failed with it,
        in one logged line, rather than a dead thread and a job that never ends."""
        try:
            self._follow(followed, store)
        except Exception as error:
            report(f"following {followed.job.name}", error)
            if not followed.job.finished:
                self._end(followed, store, JobState.FAILED, error)

    # -- following the spool -----------------------------------------------------------
    def _follow(self, followed: Followed, store: JobStore) -> None:
        job = followed.job
        quiet_since: float | None = None
        while not self._closing.is_set():
            with followed.lock:
                messages = followed.reader.read()
                done = self._take_in(followed, store, messages)
                if done is None and not followed.alive():
                    done = self._ending(followed, store)
                followed.loaded = followed.reader.offset
            followed.check_spool()
            if done is not None:
                self._end(followed, store, *done)
                return
            if job.state is JobState.DISCONNECTED and followed.alive():
                self._set(followed, store, followed.live_state())  # attached, it runs
            if messages or followed.alive() or followed.pid is None:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > UNSEEN_END:
                reason = ChildProcessExited(
                    f"{job.name}'s process ended while no kernel watched, and nothing "
                    "recorded how (its supervisor was gone too)"
                )
                job.records.add(Stream.ERROR, reason, f"{reason}\n")
                job.records.collect()
                self._end(followed, store, JobState.FAILED, reason)
                return
            self._closing.wait(FOLLOW_INTERVAL)
        with self._lock:  # the manager shuts down: the job runs on, unwatched
            self._followed.pop(job.id, None)
        parent = job.parent if job.parent is not None else job
        followed.write_row(lambda: store.release(str(parent.instance_id)))
        followed.close()
        followed.finished.set()

    def _ending(self, followed: Followed, store: JobStore) -> tuple[JobState, Any] | None:
        """How the job ended, from its reserved end, once its process is gone and the
        spool said nothing (its spool could not be written, or its supervisor wrote
        it); what the spool got meanwhile is taken in first."""
        ending = read_end(followed.end)
        if ending is None:
            return None
        done = self._take_in(followed, store, followed.reader.read())
        if done is not None:
            return done
        done = self._take_in(followed, store, [ending])
        state, reason = done if done is not None else (None, None)
        if state is JobState.FAILED and not isinstance(reason, ChildProcessExited):
            job = followed.job  # said where its output is, as its traceback would be
            job.records.add(Stream.ERROR, reason, f"{type(reason).__name__}: {reason}\n")
            job.records.collect()
        return done

    def _sample(self, followed: Followed) -> None:
        """Sample the job's process while it runs (checked to be still the job's: a
        pid may be reused once it ended)."""
        pid = followed.pid
        if pid is not None:
            self.manager.sampler.watch(
                followed.job, lambda: process_usage(pid) if followed.alive() else None
            )

    def _take_in(
        self, followed: Followed, store: JobStore, messages: list[tuple[Any, ...]]
    ) -> tuple[JobState, Any] | None:
        """Put what the spool said into the job; how it ended, once it says so."""
        job = followed.job
        for message in messages:
            kind = message[0]
            if kind == "process":
                followed.pid, followed.pid_start = message[1], message[2]
                update = functools.partial(
                    store.update, str(job.instance_id), pid=message[1], pid_start=message[2]
                )
                followed.write_row(update)
                self._sample(followed)
            elif kind == "running":
                if job.state in (JobState.NOT_STARTED, JobState.DISCONNECTED):
                    self._set(followed, store, followed.live_state())
            elif kind == "items":
                job.records.pending.extend(to_record(job, item) for item in message[1])
                job.records.collect()
            elif kind == "done":
                reason = renamed.loads(message[2]) if message[2] is not None else None
                state = JobState(message[1])
                if len(message) > 3:  # the job's own process said what it used
                    job.note_usage(*message[3])
                if state is JobState.FAILED and isinstance(reason, ChildProcessExited):
                    job.records.add(Stream.ERROR, reason, f"{reason}\n")
                    job.records.collect()
                return state, reason
        return None

    def _set(
        self,
        followed: Followed,
        store: JobStore,
        state: JobState,
        only_from: tuple[JobState, ...] | None = None,
    ) -> None:
        if only_from is not None and followed.job.state not in only_from:
            return
        followed.write_row(lambda: record_state(store, followed.job, state))
        followed.job.set_state(state, only_from=only_from)

    def _end(self, followed: Followed, store: JobStore, state: JobState, reason: Any) -> None:
        job = followed.job
        if job.overrun is not None and state.finished:  # stopped for its time limit
            state, reason = JobState.FAILED, job.overrun
        # First: whoever sees it ended finds the store saying so too.
        followed.write_row(lambda: record_state(store, job, state, reason))
        job.set_state(state, reason)
        followed.close()
        followed.finished.set()  # kept: a later receive still marks what it took

    # -- control ----------------------------------------------------------------------
    def _handle(self, child: Job) -> Followed | None:
        with self._lock:
            return self._followed.get(child.id)

    def refuse_if_held_elsewhere(self, child: Job, verb: str) -> None:
        """A JobStateError if another live kernel holds ``child``: it may only be listed
        and received with ``keep`` here."""
        followed = self._handle(child)
        if followed is not None and followed.unwritable is not None:
            name = child.parent.name if child.parent else child.name
            raise JobStateError(
                f"cannot {verb} {name}: {followed.unwritable}; receive with keep=True to "
                "see its output"
            )
        if followed is not None and not followed.holding:
            raise JobStateError(
                f"cannot {verb} {child.parent.name if child.parent else child.name}: another "
                f"kernel (pid {str(followed.holder).partition(':')[0]}) holds it; receive "
                "with keep=True to see its output here"
            )

    def stop(self, child: Job) -> None:
        followed = self._handle(child)
        if followed is not None:
            in_stop_thread(child, self._escalate, followed)

    def _escalate(self, followed: Followed) -> None:
        with contextlib.suppress(OSError):  # the user's files are theirs alone: 0600
            stop = os.path.join(followed.folder, detached_child.STOP)
            os.close(os.open(stop, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        climb_stop_ladder(self.manager.stop_grace, followed.signal, followed.finished.wait)

    # -- attaching what earlier kernels left -------------------------------------------
    def attach(self, store: JobStore) -> list[Job]:
        """Make Jobs of the store's detached jobs of this scope that this manager does
        not have yet: Disconnected until their spool is followed to where they are now
        (Running, or how they ended meanwhile). Each is held by this kernel unless
        another live one holds it; then it is listed read-only."""
        from ..model.job import Job

        self._store = store
        self.manager.repository.continue_after(store.highest_id())
        rows = store.jobs(scope())
        known = {str(job.instance_id) for job in self.manager.repository.all(True)}
        parents = [r for r in rows if r.parent is None and r.instance_id not in known]
        attached = []
        for row in parents:
            children = [r for r in rows if r.parent == row.instance_id]
            if len(children) != 1:
                continue  # a row half written by a kernel that died starting it
            unwritable = None
            try:
                holding = store.claim(row.instance_id)
            except StoreError as error:  # a store it cannot write: listed, kept receives
                holding, unwritable = False, error
            holder = row.holder if not holding else this_process()
            parent = self._job_of(Job, row, None)
            child = self._job_of(Job, children[0], parent)
            followed = Followed(child, children[0].spool or "", children[0].received, holding)
            followed.holder = holder
            followed.unwritable = unwritable
            followed.pid, followed.pid_start = children[0].pid, children[0].pid_start
            self._sample(followed)
            followed.mark_received(store)
            child.runner = self
            with self._lock:
                self._followed[child.id] = followed
            parent._change_state(lambda: (JobState.DISCONNECTED, None))
            child._change_state(lambda: (JobState.DISCONNECTED, None))
            attached.append(parent)
        for parent in attached:
            self.manager.adopt(parent)
            followed = self._followed[parent.child_jobs[0].id]
            # What the spool holds now is read here, so the jobs are where they are
            # (and what they wrote is there) once attach returns; then it is followed.
            with followed.lock:
                done = self._take_in(followed, store, followed.reader.read())
                if done is None and not followed.alive():
                    done = self._ending(followed, store)
                followed.loaded = followed.reader.offset
            stored = store.get(str(followed.job.instance_id))
            # It ended before, and what that kernel said is kept: the store says how (its
            # spool may say less: a stop for a time limit is Failed).
            said = stored.state if stored is not None else None
            if said in ("Completed", "Failed", "Stopped") and (done is None or done[0] != said):
                told = EndedElsewhere(stored.reason) if stored and said == "Failed" else None
                done = (JobState(said), told)
            if done is not None:
                self._end(followed, store, *done)
                continue
            if followed.alive():
                self._set(followed, store, followed.live_state())
            self._in_background(self._guarded_follow, followed, store)
        return attached

    def _job_of(self, job_class: Any, row: StoredJob, parent: Job | None) -> Job:
        job = job_class(
            row.id,
            name=row.name,
            job_type=row.job_type,
            command=row.command,
            location=row.location,
            parent=parent,
            memory_limit=self.manager.text_memory_limit,
        )
        job._instance_id = uuid.UUID(row.instance_id)
        if row.begin_time is not None:  # its elapsed time counts from its real start
            job.begin_time = datetime.fromtimestamp(row.begin_time)
        return job

    def _removed(self, job: Job) -> None:
        """A removed job leaves the store, with its spool."""
        store = self._store
        if store is None:
            return
        for child in job.child_jobs:
            followed = self._handle(child)
            if job.removed and (followed is None or followed.holding):
                store.remove(str(job.instance_id))
                return

    def suspend(self, child: Job) -> None:
        """SIGSTOP to the job's process, Suspended once it is seen stopped (as for a
        process job); the store says Suspended too."""
        followed, store = self._handle(child), self._store
        if (
            followed is None
            or followed.pid is None
            or store is None
            or not child.set_state(JobState.SUSPENDING, only_from=[JobState.RUNNING])
        ):
            raise JobStateError(f"{child.name} is not running, so it cannot be suspended")
        if followed.signal(signal.SIGSTOP) and self._seen(followed, stopped=True):
            self._set(followed, store, JobState.SUSPENDED, only_from=(JobState.SUSPENDING,))

    def resume(self, child: Job) -> None:
        followed, store = self._handle(child), self._store
        suspended = (JobState.SUSPENDED, JobState.SUSPENDING)
        if followed is None or store is None or child.state not in suspended:
            raise JobStateError(f"{child.name} is not suspended")
        if followed.signal(signal.SIGCONT) and self._seen(followed, stopped=False):
            self._set(followed, store, JobState.RUNNING, only_from=suspended)

    def answer(self, child: Job, text: str, echo: bool) -> None:
        """A detached job's ``input()`` fails at once (it must not wait on a kernel that
        may be gone: docs/decisions.md), so it is never Blocked."""
        raise JobStateError(f"{child.name} is a detached job: it never asks for input")

    @staticmethod
    def _seen(followed: Followed, *, stopped: bool) -> bool:
        pid = followed.pid
        assert pid is not None
        return wait_for_status(pid, followed.job, lambda: not followed.alive(), stopped=stopped)

    def shutdown(self) -> None:
        """Stop following: the detached jobs run on, and the store lets another kernel
        attach them."""
        self._closing.set()
        with self._lock:
            followed = list(self._followed.values())
        for each in followed:
            each.finished.wait(5)
