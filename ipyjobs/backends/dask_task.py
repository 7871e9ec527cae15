"""What runs on a Dask worker for one child job (DESIGN §15).

``run`` is the task ipyjobs submits. It runs the work under ipyjobs' own capture with a
stand-in job (``shipping``), so what the work writes, warns, displays and outputs becomes
records in order, and the worker's one flusher thread sends them every
``FLUSH_INTERVAL`` as Dask events (``Worker.log_event``) under the kernel's topic, each
numbered, so the kernel takes them in order while the work runs (not
``distributed.print``, which prints on every client and keeps no order or job). ``run``
returns how the work ended and the last items.

A stop reaches the task from the kernel through ``Client.run(stop, key, step)``, which
runs on the worker: step 0 sets the job's stop flag (``check_stop()``, and a routed
``time.sleep`` wakes), step 1 raises ``JobStopped`` in the thread running the work
(asynchronously, only while the work's code runs, as the thread backend does). The
kernel's last step restarts the worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
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


#: The tasks running on this worker, by key (a worker may run several at once).
_running: dict[str, _Running] = {}
#: Tasks stopped before they ran here: each one that starts ends Stopped at once.
_stopped_early: set[str] = set()
_running_lock = threading.Lock()
_flusher: threading.Thread | None = None
_wake = threading.Event()


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
    new items; asleep while none runs."""
    while True:
        with _running_lock:
            tasks = list(_running.values())
        if not tasks:
            _wake.wait()
            _wake.clear()
            continue
        for running in tasks:
            # A worker shutting down may refuse an event: the result still says the end.
            with contextlib.suppress(Exception):
                _flush(running)
        time.sleep(FLUSH_INTERVAL)


def stop(key: str, step: int) -> bool:
    """Run on the worker by the kernel (``Client.run``): stop task ``key``. Step 0 sets
    its stop flag and wakes its sleeps; step 1 raises ``JobStopped`` in its thread."""
    from ..execution import sleeping

    with _running_lock:
        running = _running.get(key)
        if running is None:  # not running here (yet): if it starts here, it stops
            _stopped_early.add(key)
            return False
    running.job.stop_requested = True
    sleeping.wake(running.job)  # type: ignore[arg-type]
    if step >= 1:
        with running.lock:
            if running.in_code:
                _post_async_exc(running.thread, JobStopped)
                running.posted = True
    return True


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
    numbers = itertools.count()

    def send(kind: str, value: Any) -> None:
        message = {"key": key, "n": next(numbers), "kind": kind}
        if kind == "running":  # where it runs: the worker's name, and its address
            value = (where, worker.address)
        message["value"] = cloudpickle.dumps(value)
        worker.log_event(topic, message)

    with _running_lock:
        if key in _stopped_early:  # stopped while it waited for this worker
            _stopped_early.discard(key)
            send("running", None)
            return Outcome("Stopped", None, [], next(numbers), (0.0, 0), where)
    running = _Running(job, send)
    with running.lock:  # the kernel knows at once where it runs (and can stop it there)
        send("running", None)
        running.announced = True
    thread_cpu = time.thread_time()
    cwd = os.getcwd()
    capture.acquire(host.default().display_publisher())
    try:
        with _running_lock:
            _running[key] = running
            if _flusher is None:
                _flusher = threading.Thread(target=_flush_all, name="ipyjobs-dask-flusher")
                _flusher.daemon = True
                _flusher.start()
        _wake.set()
        work = RemoteWork(task["work"], task["cwd"], task["kernel_cwd"], task.get("each"), dict)
        with capture.job_context(job):  # type: ignore[arg-type]
            run_work(job, work, lambda call, job: _interruptible(running, call, job))  # type: ignore[arg-type]
    finally:
        with _running_lock:
            _running.pop(key, None)
        capture.release()
        os.chdir(cwd)
    with running.lock:  # after any flush in progress: the last items, and a count
        if not running.announced:
            send("running", None)
        last_items, sent = drain(job), next(numbers)
    assert job.outcome is not None
    state, reason = job.outcome
    if state is JobState.FAILED and isinstance(reason, JobStopped) and job.stop_requested:
        state, reason = JobState.STOPPED, None
    cpu = time.thread_time() - thread_cpu
    peak = usage_since(0.0)[1]
    return Outcome(state.value, pickled_reason(reason), last_items, sent, (cpu, peak), where)


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
