"""What runs on an ipyparallel engine for one remote child job.

ipyparallel calls ``run`` in the engine's main thread, as it does any ``apply``. The work
runs under ipyjobs' own capture with a stand-in job (``shipping``), so the engine's
stdout, stderr, warnings, displays and outputs become records in order. A flusher thread
publishes them every ``FLUSH_INTERVAL`` seconds as ipyparallel *data messages* on the
engine's IOPub channel, each under the next key ``ipyjobs:<n>``, so the kernel reads them
while the work runs and in order; ``run``'s return value says how the work ended and
carries the last items (one message fewer, and no wait for IOPub when all arrived).

Code jobs run in the engine's namespace after the names they read were pushed there (as
``%px`` code runs, so what the code assigns stays on the engine for later jobs). The
kernel stops a running task with SIGINT, which here raises ``JobStopped``; the engine's
own handler is back in place, and its streams and working directory as they were, when
``run`` returns.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from ..execution import host
from ..execution.resources import process_cpu, usage_since
from .shipping import RemoteWork, StandInJob, drain, pickled_reason

KEY = "ipyjobs:"
FLUSH_INTERVAL = 0.05
#: Seconds into a job before its first flush, which says it runs.
FIRST_FLUSH = 0.005


def _engine_namespace(values: dict[str, Any]) -> dict[str, Any]:
    """The engine's user namespace (its shell's, through the package's host), with the
    names the code read pushed into it (as ipyparallel's push): what the code assigns
    stays on the engine for later jobs."""
    namespace = host.default().user_namespace()
    namespace.update(values)
    return namespace


def _interrupted(signum: int, frame: Any) -> None:
    from ..model.errors import JobStopped

    raise JobStopped("stopped by the kernel")


#: Seconds between two reports of a running job's CPU time and the engine's peak memory.
USAGE_INTERVAL = 1.0


class _Flusher:
    """The engine's one flusher thread, started by the first remote job run here and
    asleep whenever none runs (a thread per job cost a millisecond per job in GIL
    hand-offs). Each flush drains and publishes under one lock, which keeps items in
    order with the job's final drain on the engine's main thread.

    The first flush, ``FIRST_FLUSH`` seconds into the job, also tells the kernel the job
    runs: a job shorter than that sends no data message at all, only its result."""

    def __init__(self) -> None:
        self.sending = threading.Lock()
        self._changed = threading.Condition()
        self._current: _Following | None = None
        thread = threading.Thread(target=self._main, name="ipyjobs-engine-flusher", daemon=True)
        thread.start()

    def follow(self, job: StandInJob | None, send: Callable[..., None] | None = None) -> None:
        with self._changed:
            self._current = _Following(job, send) if job is not None and send else None
            self._changed.notify()

    def _flush(self, following: _Following) -> None:
        with self.sending:
            if self._current is not following:
                return  # the job ended meanwhile: its last items go with its result
            if not following.announced:
                following.send("running", None)
                following.announced = True
            items = drain(following.job)
            if items:
                following.send("items", items)
            now = time.monotonic()
            if now - following.usage_sent >= USAGE_INTERVAL:  # what it costs, now and then
                following.send("usage", usage_since(following.cpu_before))
                following.usage_sent = now

    def _main(self) -> None:
        while True:
            with self._changed:
                while self._current is None:
                    self._changed.wait()
                following = self._current
                # A job that ends (or a next one) wakes this wait early.
                self._changed.wait(FLUSH_INTERVAL if following.announced else FIRST_FLUSH)
                if self._current is not following:
                    continue
            self._flush(following)


class _Following:
    """The job the flusher follows, and whether the kernel was told it runs."""

    def __init__(self, job: StandInJob, send: Callable[..., None]) -> None:
        self.job = job
        self.send = send
        self.announced = False
        self.cpu_before = process_cpu()
        self.usage_sent = time.monotonic()


_flusher: _Flusher | None = None


def _the_flusher() -> _Flusher:
    global _flusher
    if _flusher is None:
        _flusher = _Flusher()
    return _flusher


class Outcome(NamedTuple):
    """What ``run`` returns: how the work ended, and the items it made last."""

    state: str
    reason: bytes | None  # the pickled exception that failed it
    last_items: list[Any]  # after every data message, which the kernel reads first
    data_messages: int  # how many were sent: the kernel waits for any still on the way
    usage: tuple[float, int] | None = None  # CPU seconds of the work, the engine's peak RSS


def run(task: dict[str, Any]) -> Outcome:
    """Run one child job's work here."""
    from ipyparallel.datapub import publish_data

    from ..execution import capture
    from ..execution.work import run_work
    from ..model.errors import JobStopped
    from ..model.state import JobState

    job = StandInJob(task["name"], task["location"])
    keys = itertools.count()
    cpu_before = process_cpu()

    def send(kind: str, value: Any) -> None:
        publish_data({f"{KEY}{next(keys)}": (kind, value)})

    flusher = _the_flusher()
    engine_handler = signal.signal(signal.SIGINT, _interrupted)
    engine_cwd = os.getcwd()
    capture.acquire(host.default().display_publisher())
    try:
        flusher.follow(job, send)
        work = RemoteWork(
            task["work"], task["cwd"], task["kernel_cwd"], task.get("each"), _engine_namespace
        )
        try:
            with capture.job_context(job):  # type: ignore[arg-type]
                run_work(job, work, lambda run, job: run(job))  # type: ignore[arg-type]
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # over: a late stop is moot
        except JobStopped:  # the stop landed just as the work ended
            job.outcome = (JobState.STOPPED, None)
    finally:
        signal.signal(signal.SIGINT, engine_handler)
        flusher.follow(None)
        capture.release()
        os.chdir(engine_cwd)
    with flusher.sending:  # after any flush in progress: the last items, and a count
        last_items, sent = drain(job), next(keys)
    assert job.outcome is not None
    state, reason = job.outcome
    return Outcome(state.value, pickled_reason(reason), last_items, sent, usage_since(cpu_before))
