"""Process jobs (``ProcessJob``): each job in its own child process, as Start-Job does.

Children come from a *forkserver* of ipyjobs' own (``forkserver``): a single-threaded
server process forks them, so the multithreaded kernel itself is never forked (forking it
can copy a lock held by another thread and deadlock the child), and a start costs a fork
(~3 ms) rather than a fresh interpreter (spawn: 36-50 ms here). Work and values travel
with cloudpickle, so functions and lambdas defined in a notebook work.

The job reads a copy of the names its code uses (PowerShell's ``$using:``), or the names
given with ``using``; a name that cannot be pickled is left out with one warning naming
it. Stopping climbs a ladder, each step after ``stop_grace`` seconds: the cooperative
flag (``check_stop()``), SIGINT, SIGTERM, SIGKILL. Suspend and resume are SIGSTOP and
SIGCONT, each confirmed by the process's state (Suspending until it is seen stopped).
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

import cloudpickle

from ..errors import JobArgumentError, JobStateError
from ..execution import frame_name
from ..records import Stream
from ..resources import process_usage
from ..state import JobState
from . import forkserver, process_child
from .shipping import pack_work, to_record

if TYPE_CHECKING:
    from ..job import Job
    from ..manager import JobManager
    from . import StartRequest


class ChildProcessExited(RuntimeError):
    """A process job's child ended without reporting: killed, crashed or exited."""


def exit_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by signal {-exitcode} ({signal.Signals(-exitcode).name})"
    return f"exited with code {exitcode}"


#: How long a suspend or resume waits to see the process stopped or running again.
CONFIRM_TIMEOUT = 5.0


def process_stopped(pid: int) -> bool | None:
    """True if the process is stopped by a signal (``/proc`` state T, or psutil's), False
    if it is not, None if it cannot be told (gone, or no way to look)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rpartition(b")")[2].split()[0]  # after "pid (comm)"
        return state in (b"T", b"t")
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            return None  # a Linux without that pid: it is gone
    except (OSError, IndexError):
        return None
    try:
        import psutil
    except ImportError:
        return None
    try:
        return psutil.Process(pid).status() == psutil.STATUS_STOPPED
    except psutil.Error:
        return None


def _wait_for_status(handle: _Child, job: Job, *, stopped: bool) -> bool:
    """Wait until the job's process is (or is no longer) stopped; False if the job ended
    or it could not be seen within ``CONFIRM_TIMEOUT``. Where the state cannot be read
    at all, the signal is taken as done."""
    deadline = time.monotonic() + CONFIRM_TIMEOUT
    while not job.finished and time.monotonic() < deadline:
        seen = process_stopped(handle.process.pid)
        if seen is None:
            return not handle.finished.is_set()
        if seen is stopped:
            return True
        time.sleep(0.001)  # no event says a process other than a child of ours stopped
    return False


class _Child:
    """The kernel's side of one child process."""

    def __init__(self, job: Job, process: Any, connection: Any) -> None:
        self.job = job
        self.process = process
        self.connection = connection
        self.finished = threading.Event()

    def send(self, message: tuple[Any, ...]) -> None:
        with contextlib.suppress(OSError, ValueError):  # gone: its reader reports how
            self.connection.send(message)


class ProcessBackend:
    """``backend="process"``."""

    name = "process"
    job_type = "ProcessJob"
    #: A child is NotStarted until its "running" message is read, which can be after its
    #: work began: a stop goes through Stopping, and the reader says when it is Stopped.
    confirms_stops = True

    def __init__(self, manager: JobManager) -> None:
        self.manager = manager
        forkserver.acquire()
        self._children: dict[int, _Child] = {}
        self._lock = threading.Lock()

    # -- starting -------------------------------------------------------------------------
    def check(self, request: StartRequest) -> None:
        if request.engines is not None:
            raise JobArgumentError("engines= needs the engines backend")
        if request.cwd is not None and not os.path.isdir(request.cwd):
            raise JobArgumentError(f"cwd {request.cwd!r} is not a directory")
        request.prepared["payload"] = pack_work(
            request, "a process job", functools.partial(frame_name, host=self.manager.host)
        )

    def locations(self, request: StartRequest) -> list[str]:
        return ["localhost"]

    def fan_out_throttle(self, request: StartRequest) -> int:
        """A fan-out runs as many children at once as there are CPUs, by default."""
        return os.cpu_count() or 1

    def launch(self, child: Job, request: StartRequest) -> None:
        """Start the child from a thread of its own: the first start also starts the
        forkserver, and ``start_job`` must return at once. Until the child reports that
        it runs, the job is NotStarted (and a stop before its process starts needs no
        signal)."""
        fanned, item = request.item_of(child)
        task = {
            "name": child.name,
            "location": child.location,
            "cwd": request.cwd or os.getcwd(),
            "work": request.prepared["payload"],
            # A fan-out's item travels apart from the work, pickled once per child.
            "each": (request.each_name, cloudpickle.dumps(item)) if fanned else None,
        }
        child.runner = self
        threading.Thread(
            target=self._run,
            args=(child, cloudpickle.dumps(task)),
            daemon=True,
            name=f"ipyjobs-process-{child.id}",
        ).start()

    def _run(self, job: Job, payload: bytes) -> None:
        kernel_end, child_end = multiprocessing.Pipe(duplex=True)
        process = forkserver.JobProcess(
            target=process_child.main,
            args=(child_end, payload),
            daemon=True,
            name=f"ipyjobs-{job.name}",
        )
        handle = _Child(job, process, kernel_end)
        with self._lock:
            if job.stop_requested:  # stopped before its process was started
                job.set_state(JobState.STOPPED)
                return
            self._children[job.id] = handle
        try:
            process.start()
        except Exception as error:
            job.records.add(Stream.ERROR, error, f"{job.name} could not start: {error}\n")
            job.records.collect()
            job.set_state(JobState.FAILED, error)
            with self._lock:
                self._children.pop(job.id, None)
            handle.finished.set()
            return
        finally:
            child_end.close()
        if job.stop_requested:
            self.stop(job)  # a stop came while the process was starting
        pid = process.pid
        self.manager.sampler.watch(job, lambda: process_usage(pid))
        self._read(handle)

    # -- what the child sends --------------------------------------------------------------
    def _read(self, handle: _Child) -> None:
        job = handle.job
        inbox = job.records.pending
        done: tuple[Any, ...] | None = None
        while done is None:
            try:
                message = handle.connection.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind == "running":
                job.set_state(JobState.RUNNING, only_from=[JobState.NOT_STARTED])
            elif kind == "items":
                for item in message[1]:
                    inbox.append(to_record(job, item))
                job.records.collect()
            elif kind == "blocked":  # after the items that wrote its prompt
                job.block(message[1], message[2])
            elif kind == "done":
                done = message
        handle.process.join(5)
        job.records.collect()
        if done is not None:
            state = JobState(done[1])
            reason = cloudpickle.loads(done[2]) if done[2] is not None else None
            job.note_usage(*done[3])
        elif job.stop_requested:
            state, reason = JobState.STOPPED, None
        else:
            state = JobState.FAILED
            reason = ChildProcessExited(
                f"{job.name}'s process {exit_reason(handle.process.exitcode)}"
            )
            job.records.add(Stream.ERROR, reason, f"{reason}\n")
            job.records.collect()
        job.set_state(state, reason)
        handle.connection.close()
        handle.finished.set()
        with self._lock:
            self._children.pop(job.id, None)

    # -- control ----------------------------------------------------------------------------
    def _handle(self, child: Job) -> _Child | None:
        with self._lock:
            return self._children.get(child.id)

    def stop(self, child: Job) -> None:
        handle = self._handle(child)
        if handle is not None:
            threading.Thread(
                target=self._escalate, args=(handle,), daemon=True, name=f"ipyjobs-stop-{child.id}"
            ).start()

    def _escalate(self, handle: _Child) -> None:
        grace = self.manager.stop_grace
        handle.send(("stop",))
        if handle.job.state is JobState.SUSPENDED or handle.job.state is JobState.STOPPING:
            self._signal(handle, signal.SIGCONT)
        for step in (None, signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if step is not None:
                self._signal(handle, step)
            if handle.finished.wait(grace if step is not signal.SIGKILL else 5):
                return

    @staticmethod
    def _signal(handle: _Child, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, TypeError):  # already gone
            os.kill(handle.process.pid, signum)

    def answer(self, child: Job, text: str, echo: bool) -> None:
        """Running again at once; the child's ``input()`` returns when the text arrives."""
        handle = self._handle(child)
        if handle is None or not child.unblock():
            raise JobStateError(f"{child.name} is {child.state.value}, not Blocked")
        handle.send(("answer", text, echo))

    def suspend(self, child: Job) -> None:
        """SIGSTOP, and Suspended only once the process is seen stopped: the signal is
        delivered when the kernel next schedules the process, not when ``kill`` returns."""
        handle = self._handle(child)
        if handle is None or not child.set_state(JobState.SUSPENDING, only_from=[JobState.RUNNING]):
            raise JobStateError(f"{child.name} is not running, so it cannot be suspended")
        self._signal(handle, signal.SIGSTOP)
        if _wait_for_status(handle, child, stopped=True):
            child.set_state(JobState.SUSPENDED, only_from=[JobState.SUSPENDING])

    def resume(self, child: Job) -> None:
        handle = self._handle(child)
        if handle is None or child.state not in (JobState.SUSPENDED, JobState.SUSPENDING):
            raise JobStateError(f"{child.name} is not suspended")
        self._signal(handle, signal.SIGCONT)
        if _wait_for_status(handle, child, stopped=False):
            child.set_state(JobState.RUNNING, only_from=[JobState.SUSPENDED, JobState.SUSPENDING])

    def shutdown(self) -> None:
        with self._lock:
            handles = list(self._children.values())
        for handle in handles:
            self._signal(handle, signal.SIGCONT)
            self._signal(handle, signal.SIGKILL)
            handle.finished.wait(5)
        forkserver.release()  # the last manager's shutdown stops the server
