"""Process jobs (``ProcessJob``): each job in its own child process, as Start-Job does;
a fan-out's children in a few processes (lanes, see ``_Lane``), one after another.

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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import cloudpickle

from ..execution.daemons import guarded
from ..execution.resources import Sample, process_stopped, process_usage
from ..execution.work import frame_name
from ..model.errors import JobArgumentError, JobStateError
from ..model.records import Stream
from ..model.state import JobState
from . import forkserver, process_child
from .shipping import pack_work, to_record

if TYPE_CHECKING:
    from ..manager.manager import JobManager
    from ..model.job import Job
    from . import StartRequest


def climb_stop_ladder(
    grace: float, send: Callable[[int], bool], finished: Callable[[float], bool]
) -> None:
    """The stop ladder after the cooperative flag: SIGCONT (a suspended process sees
    neither the flag nor a signal), ``grace`` seconds for the job to see the flag, then
    SIGINT, SIGTERM and SIGKILL, each after the last one's grace (SIGKILL gets 5 s to
    take effect), until ``finished(timeout)`` says it ended. ``send(signum)`` returns
    False when the process no longer runs the job: the climb ends there."""
    if not send(signal.SIGCONT):
        return
    for step in (None, signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if step is not None and not send(step):
            return
        if finished(grace if step is not signal.SIGKILL else 5):
            return


def in_stop_thread(child: Job, climb: Callable[..., None], *args: Any) -> None:
    """Run a stop's climb in a thread of its own: ``stop_job`` returns at once."""
    name = f"ipyjobs-stop-{child.id}"
    ladder = guarded(f"stopping {child.name}")(climb)
    threading.Thread(target=ladder, args=args, daemon=True, name=name).start()


class ChildProcessExited(RuntimeError):
    """A process job's child ended without reporting: killed, crashed or exited."""


def exit_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by signal {-exitcode} ({signal.Signals(-exitcode).name})"
    return f"exited with code {exitcode}"


#: Where a fan-out's request keeps its idle lanes (``StartRequest.prepared``).
IDLE_LANES = "idle lanes"

#: How long a suspend or resume waits to see the process stopped or running again.
CONFIRM_TIMEOUT = 5.0


def wait_for_status(pid: int, job: Job, gone: Callable[[], bool], *, stopped: bool) -> bool:
    """Wait until the job's process ``pid`` is (or is no longer) stopped; False if the
    job ended or it could not be seen within ``CONFIRM_TIMEOUT``. Where the state cannot
    be read at all, the signal is taken as done unless the process is ``gone()``."""
    deadline = time.monotonic() + CONFIRM_TIMEOUT
    while not job.finished and time.monotonic() < deadline:
        seen = process_stopped(pid)
        if seen is None:
            return not gone()
        if seen is stopped:
            return True
        time.sleep(0.001)  # no event says a process other than a child of ours stopped
    return False


class _Lane:
    """The kernel's side of one child process, and the job it runs now. A process job's
    process runs that job alone; a fan-out's processes are *lanes*, each running one
    child after another (as a ``ProcessPoolExecutor`` worker runs task after task), so a
    child costs a message, not a process start."""

    def __init__(self, process: Any, connection: Any, idle: list[_Lane] | None) -> None:
        self.process = process
        self.connection = connection
        #: A lane's place among its fan-out's idle lanes (None: not a lane).
        self.idle = idle
        self.job: Job | None = None
        self.tag = 0  # which of its tasks runs now: a stop names the one it is for
        self.cpu_base = 0.0  # the process's CPU seconds when the job began
        self.doomed = False  # a stop is signalling it: it takes no further job
        self.signal_stopped = False  # SIGSTOP was sent for the job it runs
        self.gone = threading.Event()  # the process ended and nothing more is read

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
        self._running: dict[int, _Lane] = {}  # by child id: the lane that runs it
        self._lanes: set[_Lane] = set()
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
        """A fan-out's child goes to an idle lane of its fan-out if there is one.
        Otherwise a thread of its own starts its process: the first start also starts
        the forkserver, and ``start_job`` must return at once. Until the child reports
        that it runs, the job is NotStarted (and a stop before its process starts needs
        no signal)."""
        fanned, item = request.item_of(child)
        task = {
            "name": child.name,
            "location": child.location,
            "cwd": request.cwd or os.getcwd(),
            "work": None,
            # A fan-out's item travels apart from the work, pickled once per child.
            "each": (request.each_name, cloudpickle.dumps(item)) if fanned else None,
        }
        child.runner = self
        idle: list[_Lane] | None = request.prepared.setdefault(IDLE_LANES, []) if fanned else None
        with self._lock:
            lane = idle.pop() if idle else None
            if lane is not None:
                self._give(lane, child)
        if lane is not None:  # it has the work already
            lane.send(("task", lane.tag, cloudpickle.dumps(task)))
            return
        task["work"] = request.prepared["payload"]
        threading.Thread(
            target=self._run,
            args=(child, cloudpickle.dumps(task), idle),
            daemon=True,
            name=f"ipyjobs-process-{child.id}",
        ).start()

    def _give(self, lane: _Lane, job: Job) -> None:
        """Under the lock: ``lane`` runs ``job`` now."""
        lane.job = job
        lane.tag += 1
        self._running[job.id] = lane

    def _fail(self, job: Job, payload: bytes, idle: Any, error: BaseException) -> None:
        """Following the job failed: it ends Failed with the error, its process stopped."""
        if job.set_state(JobState.FAILED, error):
            self.stop(job)

    @guarded("following a process job", then=_fail)
    def _run(self, job: Job, payload: bytes, idle: list[_Lane] | None) -> None:
        kernel_end, child_end = multiprocessing.Pipe(duplex=True)
        process = forkserver.JobProcess(
            target=process_child.main,
            args=(child_end, payload, idle is not None),
            daemon=True,
            name=f"ipyjobs-{job.name}",
        )
        lane = _Lane(process, kernel_end, idle)
        with self._lock:
            if job.stop_requested:  # stopped before its process was started
                job.set_state(JobState.STOPPED)
                return
            self._give(lane, job)
            self._lanes.add(lane)
        try:
            process.start()
        except Exception as error:
            job.records.add(Stream.ERROR, error, f"{job.name} could not start: {error}\n")
            job.records.collect()
            with self._lock:
                self._running.pop(job.id, None)
                self._lanes.discard(lane)
            lane.gone.set()
            job.set_state(JobState.FAILED, error)
            return
        finally:
            child_end.close()
        if job.stop_requested:
            self.stop(job)  # a stop came while the process was starting
        self._read(lane)

    # -- what the child sends --------------------------------------------------------------
    def _read(self, lane: _Lane) -> None:
        """Read the lane's messages for each job it runs, until its process ends."""
        while True:
            try:
                message = lane.connection.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            job = lane.job
            assert job is not None  # the child sends only while it runs a job
            if kind == "running":
                lane.cpu_base = message[1]
                job.set_state(JobState.RUNNING, only_from=[JobState.NOT_STARTED])
                self.manager.sampler.watch(job, functools.partial(self._sample, lane, job))
            elif kind == "items":
                inbox = job.records.pending
                for item in message[1]:
                    inbox.append(to_record(job, item))
                job.records.collect()
            elif kind == "blocked":  # after the items that wrote its prompt
                job.block(message[1], message[2])
            elif kind == "done" and not self._job_done(lane, job, message):
                return
        self._lane_ended(lane)

    def _job_done(self, lane: _Lane, job: Job, done: tuple[Any, ...]) -> bool:
        """The job ended in its process. A lane whose fan-out has children waiting is
        kept idle while the job's final state is set (that is when the fan-out launches
        its next child); otherwise, or if no child came, its process is closed. True
        while the lane runs on."""
        job.records.collect()
        state = JobState(done[1])
        reason = cloudpickle.loads(done[2]) if done[2] is not None else None
        job.note_usage(*done[3])
        more = lane.idle is not None and self._more_children(job)
        with self._lock:
            self._running.pop(job.id, None)
            lane.job = None
            keep = more and not lane.doomed
            if keep:
                assert lane.idle is not None
                lane.idle.append(lane)
        if lane.signal_stopped:  # the job ended before its suspend took hold
            lane.signal_stopped = False
            self._signal(lane, signal.SIGCONT)
        if not keep:
            self._close(lane)
        job.set_state(state, reason)
        if keep and self._unclaimed(lane):  # no child came for it
            self._close(lane)
            keep = False
        return keep

    def _unclaimed(self, lane: _Lane) -> bool:
        """Take ``lane`` back from its fan-out's idle lanes; False if a child took it."""
        with self._lock:
            if lane.idle is not None and lane in lane.idle:
                lane.idle.remove(lane)
                return True
            return False

    def _more_children(self, job: Job) -> bool:
        fan_out = self.manager.fan_out_of(job)
        return fan_out is not None and fan_out.has_waiting()

    def _close(self, lane: _Lane) -> None:
        """The lane's process has nothing more to do: it ends, and is waited for."""
        lane.send(("close",))
        lane.process.join(5)
        lane.connection.close()
        with self._lock:
            self._lanes.discard(lane)
        lane.gone.set()

    def _lane_ended(self, lane: _Lane) -> None:
        """The process ended without saying its job was done: killed, crashed, exited."""
        lane.process.join(5)
        lane.connection.close()
        self._unclaimed(lane)  # an idle lane, killed at shutdown
        with self._lock:
            job, lane.job = lane.job, None
            self._lanes.discard(lane)
            if job is not None:
                self._running.pop(job.id, None)
        lane.gone.set()
        if job is None:
            return  # an idle lane ended (at shutdown)
        job.records.collect()
        if job.stop_requested:
            job.set_state(JobState.STOPPED)
            return
        reason = ChildProcessExited(f"{job.name}'s process {exit_reason(lane.process.exitcode)}")
        job.records.add(Stream.ERROR, reason, f"{reason}\n")
        job.records.collect()
        job.set_state(JobState.FAILED, reason)

    def _sample(self, lane: _Lane, job: Job) -> Sample:
        """The job's CPU seconds so far and its process's peak, while the lane runs it."""
        if lane.job is not job:
            return None
        usage = process_usage(lane.process.pid)
        if usage is None or usage[0] is None:
            return usage
        return max(0.0, usage[0] - lane.cpu_base), usage[1]

    # -- control ----------------------------------------------------------------------------
    def _lane_of(self, child: Job) -> _Lane | None:
        with self._lock:
            return self._running.get(child.id)

    def stop(self, child: Job) -> None:
        with self._lock:
            lane = self._running.get(child.id)
            tag = None if lane is None else lane.tag
        if lane is not None:
            in_stop_thread(child, self._escalate, lane, child, tag)

    def _escalate(self, lane: _Lane, job: Job, tag: int) -> None:
        lane.send(("stop", tag))
        send = functools.partial(self._signal_job, lane, job)  # False: the lane moved on
        climb_stop_ladder(self.manager.stop_grace, send, job.wait_until_finished)

    def _signal_job(self, lane: _Lane, job: Job, signum: int) -> bool:
        """Signal the lane's process if it still runs ``job``. A signal that ends the
        process dooms the lane: it takes no further child (one that ended meanwhile
        would lose the next)."""
        with self._lock:
            if lane.job is not job:
                return False
            if signum in (signal.SIGTERM, signal.SIGKILL):
                lane.doomed = True
        self._signal(lane, signum)
        return True

    @staticmethod
    def _signal(lane: _Lane, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, TypeError):  # already gone
            os.kill(lane.process.pid, signum)

    def answer(self, child: Job, text: str, echo: bool) -> None:
        """Running again at once; the child's ``input()`` returns when the text arrives."""
        lane = self._lane_of(child)
        if lane is None or not child.unblock():
            raise JobStateError(f"{child.name} is {child.state.value}, not Blocked")
        lane.send(("answer", text, echo))

    def suspend(self, child: Job) -> None:
        """SIGSTOP, and Suspended only once the process is seen stopped: the signal is
        delivered when the kernel next schedules the process, not when ``kill`` returns."""
        lane = self._lane_of(child)
        if lane is None or not child.set_state(JobState.SUSPENDING, only_from=[JobState.RUNNING]):
            raise JobStateError(f"{child.name} is not running, so it cannot be suspended")
        with self._lock:
            if lane.job is not child:
                return  # it ended meanwhile
            lane.signal_stopped = True
        self._signal(lane, signal.SIGSTOP)
        if wait_for_status(lane.process.pid, child, lane.gone.is_set, stopped=True):
            child.set_state(JobState.SUSPENDED, only_from=[JobState.SUSPENDING])

    def resume(self, child: Job) -> None:
        lane = self._lane_of(child)
        if lane is None or child.state not in (JobState.SUSPENDED, JobState.SUSPENDING):
            raise JobStateError(f"{child.name} is not suspended")
        lane.signal_stopped = False
        self._signal(lane, signal.SIGCONT)
        if wait_for_status(lane.process.pid, child, lane.gone.is_set, stopped=False):
            child.set_state(JobState.RUNNING, only_from=[JobState.SUSPENDED, JobState.SUSPENDING])

    def shutdown(self) -> None:
        with self._lock:
            lanes = list(self._lanes)
        for lane in lanes:
            self._signal(lane, signal.SIGCONT)
            self._signal(lane, signal.SIGKILL)
            lane.gone.wait(5)
        forkserver.release()  # the last manager's shutdown stops the server
