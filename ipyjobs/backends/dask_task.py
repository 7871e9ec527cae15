"""What runs on a Dask worker for one child job (DESIGN §15).

``run`` is the task ipyjobs submits. It runs the work under ipyjobs' own capture with a
stand-in job (``shipping``), so what the work writes, warns, displays and outputs becomes
records in order, and the worker's one flusher thread sends them every
``FLUSH_INTERVAL`` as Dask events (``Worker.log_event``) under the kernel's topic, each
numbered, so the kernel takes them in order while the work runs (not
``distributed.print``, which prints on every client and keeps no order or job). ``run``
returns how the work ended and the last items.

A stop reaches the task from the kernel through ``Client.run(stop, keys, step)``, which
runs on the worker: step 0 sets the job's stop flag (``check_stop()``, and a routed
``time.sleep`` wakes), step 1 raises ``JobStopped`` in the thread running the work
(asynchronously, only while the work's code runs, as the thread backend does). The
kernel's last step restarts the worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import cloudpickle

from ..execution import host
from ..execution.resources import usage_since
from ..model.errors import JobStopped
from .shipping import RemoteWork, StandInJob, drain, pickled_reason

FLUSH_INTERVAL = 0.05
#: Seconds into a task before its first event, which says it runs and where: a task
#: shorter than that sends none, only its result (a 1 000-item fan-out of short tasks
#: waited for each one's events).
FIRST_FLUSH = 0.005
#: An outcome up to this size (pickled) also goes as the task's last event, so the
#: kernel need not fetch each task's result from its worker (a round trip each: a
#: 1 000-item fan-out took 3.4x ``client.map``); a larger one (a big return value) is
#: fetched from the worker, and never passes through the scheduler.
OUTCOME_EVENT_LIMIT = 64 * 1024

_post_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_post_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
_post_async_exc.restype = ctypes.c_int


def _landing_pad() -> None:
    """A call whose start is a place where a pending asynchronous exception lands."""


class _Sleeps:
    """The runner a stand-in job names here: a stop wakes its ``time.sleep``."""

    wakes_sleepers = True


class _Running:
    """One task running on this worker, as a stop finds it."""

    def __init__(self, job: StandInJob, send: Callable[[str, Any], None]) -> None:
        self.job = job
        self.send = send
        self.thread = threading.get_ident()
        self.lock = threading.Lock()
        self.in_code = False  # a stop is posted only while the work's code runs
        self.posted = False
        self.announced = False
        self.started = time.monotonic()


#: The tasks running on this worker, by key (a worker may run several at once).
_running: dict[str, _Running] = {}
#: Tasks stopped before they ran here: each one that starts ends Stopped at once.
_stopped_early: set[str] = set()
#: Clear while this worker is sealed, about to be restarted to stop a task: a task that
#: starts then waits here and never begins its work (Dask runs it elsewhere).
_open = threading.Event()
_open.set()
_running_lock = threading.Lock()
_flusher: threading.Thread | None = None
_wake = threading.Event()
#: When the flusher looks next (monotonic; inf: when a task starts). A task that starts
#: wakes it only if that is later than the task's first flush (a wake per short task
#: slowed a fan-out).
_flusher_wakes_at = 0.0


def _flush(running: _Running) -> None:
    with running.lock:
        if not running.announced:
            running.send("running", None)
            running.announced = True
        items = drain(running.job)
        if items:
            running.send("items", items)


def _flush_all() -> None:
    """The worker's one flusher thread: every ``FLUSH_INTERVAL``, each running task's
    new items (a task's first ``FIRST_FLUSH`` after it started); asleep while none runs."""
    global _flusher_wakes_at
    while True:
        with _running_lock:
            tasks = list(_running.values())
            if not tasks:
                _flusher_wakes_at = float("inf")
        if not tasks:
            _wake.wait()
            _wake.clear()
            continue
        now = time.monotonic()
        pause = FLUSH_INTERVAL
        for running in tasks:
            if not running.announced and now - running.started < FIRST_FLUSH:
                pause = min(pause, FIRST_FLUSH - (now - running.started))
                continue
            # A worker shutting down may refuse an event: the result still says the end.
            with contextlib.suppress(Exception):
                _flush(running)
        _flusher_wakes_at = time.monotonic() + pause
        _wake.wait(pause)
        _wake.clear()


def stop(keys: list[str], step: int) -> None:
    """Run on the worker by the kernel (``Client.run``): stop the tasks ``keys``. Step 0
    sets their stop flags and wakes their sleeps; step 1 raises ``JobStopped`` in their
    threads. A task not running here yet stops at once if it starts here."""
    from ..execution import sleeping

    for key in keys:
        with _running_lock:
            running = _running.get(key)
            if running is None:
                _stopped_early.add(key)
                continue
        running.job.stop_requested = True
        sleeping.wake(running.job)  # type: ignore[arg-type]
        if step >= 1:
            with running.lock:
                if running.in_code:
                    _post_async_exc(running.thread, JobStopped)
                    running.posted = True


def seal() -> list[str]:
    """Run on the worker by the stop ladder before it restarts the worker: no task
    begins here any more. The keys of those that began, which are lost with it."""
    with _running_lock:
        _open.clear()
        return list(_running)


def unseal() -> None:
    """The worker was not restarted after all: tasks begin here again."""
    _open.set()


class Outcome(NamedTuple):
    """What ``run`` returns: how the work ended, and what the kernel has not had yet."""

    state: str
    reason: bytes | None
    last_items: list[Any]
    events: int  # how many events were sent: the kernel waits for any still on the way
    usage: tuple[float, int]  # the work's thread's CPU seconds, the worker's peak RSS
    worker: str


def run(task: dict[str, Any], topic: str, key: str) -> Outcome:
    """Run one child job's work on this worker."""
    global _flusher
    from distributed import get_worker

    from ..execution import capture
    from ..execution.work import run_work
    from ..model.state import JobState

    worker = get_worker()
    where = str(worker.name) if worker.name is not None else worker.address
    job = StandInJob(task["name"], where)
    job.runner = _Sleeps()  # type: ignore[assignment]
    sent = [0]  # the events sent so far: the next one's number

    def send(kind: str, value: Any, pickled: bytes | None = None) -> None:
        message = {"key": key, "n": sent[0], "kind": kind}
        sent[0] += 1
        if kind == "running":  # where it runs: the worker's name, and its address
            value = (where, worker.address)
        message["value"] = pickled if pickled is not None else cloudpickle.dumps(value)
        worker.log_event(topic, message)

    def ended(outcome: Outcome) -> Outcome:
        """The last event: the outcome itself, or None when it is too large for one."""
        pickled = cloudpickle.dumps(outcome)
        small = len(pickled) <= OUTCOME_EVENT_LIMIT
        send("done", None, pickled if small else cloudpickle.dumps(None))
        return outcome

    running = _Running(job, send)
    while True:
        with _running_lock:  # one step: a stop finds it waiting or running, never neither
            if key in _stopped_early:  # stopped while it waited for this worker
                _stopped_early.discard(key)
                send("running", None)
                return ended(Outcome("Stopped", None, [], sent[0], (0.0, 0), where))
            if _open.is_set():
                _running[key] = running
                break
        _open.wait()  # sealed: until the restart ends this process (or it is unsealed)
    running.started = time.monotonic()
    with _running_lock:
        if _flusher is None:
            _flusher = threading.Thread(target=_flush_all, name="ipyjobs-dask-flusher")
            _flusher.daemon = True
            _flusher.start()
        if _flusher_wakes_at > running.started + FIRST_FLUSH:
            _wake.set()
    thread_cpu = time.thread_time()
    cwd = os.getcwd()  # the work may change it: back here after (when it did)
    captured = False
    try:
        capture.acquire(host.default().display_publisher())
        captured = True
        work = RemoteWork(task["work"], task["cwd"], task["kernel_cwd"], task.get("each"), dict)
        with capture.job_context(job):  # type: ignore[arg-type]
            run_work(job, work, lambda call, job: _interruptible(running, call, job))  # type: ignore[arg-type]
    finally:
        with _running_lock:
            _running.pop(key, None)
        if captured:
            capture.release()
        if os.getcwd() != cwd:
            os.chdir(cwd)
    with running.lock:  # after any flush in progress: the last items
        last_items = drain(job)
    assert job.outcome is not None
    state, reason = job.outcome
    if state is JobState.FAILED and isinstance(reason, JobStopped) and job.stop_requested:
        state, reason = JobState.STOPPED, None
    cpu = time.thread_time() - thread_cpu
    peak = usage_since(0.0)[1]
    with running.lock:  # "events" counts those before "done", which is the last
        outcome = Outcome(
            state.value, pickled_reason(reason), last_items, sent[0], (cpu, peak), where
        )
        return ended(outcome)


def _interruptible(running: _Running, call: Any, job: Any) -> None:
    """Run the work's code where a stop's ``JobStopped`` may land, and only there: one
    posted and not landed when the code ends lands here, not in Dask's own code."""
    with running.lock:
        running.in_code = True
    try:
        call(job)
    finally:
        while True:
            try:
                with running.lock:
                    running.in_code = False
                    posted, running.posted = running.posted, False
                if posted:
                    _post_async_exc(running.thread, JobStopped)
                    _landing_pad()
                break
            except JobStopped:
                pass
