"""What runs inside a process job's child process.

The child uses ipyjobs' own capture: its ``sys.stdout`` is the same router, writing into
a stand-in job's inbox list, and a flusher thread sends that inbox to the kernel every
``FLUSH_INTERVAL`` seconds over the pipe. Messages to the kernel are tuples:

    ("running",)                       the work started
    ("items", [item, ...])             inbox items: str (stdout), (STDERR, str),
                                       (stream, pickled value, text) for other records
    ("done", state, reason, text)      the work ended (reason: pickled exception or None)

The kernel sends ("stop",) for a cooperative stop. When the pipe breaks (the kernel is
gone, even killed with SIGKILL), the child exits at once.
"""

from __future__ import annotations

import linecache
import os
import signal
import sys
import threading
import time
from typing import Any

import cloudpickle

FLUSH_INTERVAL = 0.05


class _ChildRecords:
    """The stand-in's record buffer: the same inbox protocol as ``RecordBuffer``."""

    def __init__(self) -> None:
        self.pending: list[Any] = []

    def add(self, stream: Any, value: Any, text: str | None = None) -> None:
        self.pending.append((stream, value, text))

    def collect(self) -> None:
        """Nothing to do here: the flusher sends the inbox."""


class ChildJob:
    """Stands in for the Job inside the child, for ``write_output``, ``check_stop``..."""

    def __init__(self, name: str, location: str) -> None:
        self.name = name
        self.location = location
        self.records = _ChildRecords()
        self.stop_requested = False
        self.checks_stop = False
        self.progress = None
        self.last_output = None
        self.has_output = False
        self.outcome: tuple[Any, BaseException | None] | None = None

    def write_output(self, value: Any) -> None:
        from ..records import Stream

        self.records.add(Stream.OUTPUT, value)

    def set_state(self, new: Any, reason: BaseException | None = None, **_: Any) -> bool:
        """The kernel owns the state: here the final one is only noted, then sent."""
        if new.value != "Running":
            self.outcome = (new, reason)
        return True


def _pickled(stream: Any, value: Any, text: str | None) -> tuple[Any, ...]:
    from ..records import Stream

    try:
        return (stream, cloudpickle.dumps(value), text)
    except Exception as error:
        kind = type(value).__name__
        message = f"ipyjobs: a {stream.value} value of type {kind} cannot be sent back: {error}"
        return (Stream.ERROR, cloudpickle.dumps(TypeError(message)), message + "\n")


def _drain(job: ChildJob) -> list[Any]:
    pending = job.records.pending
    count = len(pending)
    items = pending[:count]
    del pending[:count]
    return [item if isinstance(item, str) or len(item) == 2 else _pickled(*item) for item in items]


def main(connection: Any, payload: bytes) -> None:
    """Entry point of the child process (started by the forkserver)."""
    from .. import capture
    from ..errors import JobStopped
    from ..execution import run_work

    task = cloudpickle.loads(payload)
    task["work"] = cloudpickle.loads(task["work"])  # unpickled here, in the job's process
    python = getattr(task["work"], "python", "")
    if python:  # tracebacks then show the job's lines, as in the kernel
        filename = task["work"].body.co_filename
        linecache.cache[filename] = (len(python), None, python.splitlines(True), filename)
    job = ChildJob(task["name"], task["location"])
    send_lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with send_lock:
            connection.send(message)

    def flusher() -> None:
        while True:
            time.sleep(FLUSH_INTERVAL)
            items = _drain(job)
            if items:
                send(("items", items))

    def listener() -> None:
        while True:
            try:
                message = connection.recv()
            except (EOFError, OSError):
                os._exit(70)  # the kernel is gone: leave nothing behind
            if message[0] == "stop":
                job.stop_requested = True

    def interrupted(signum: int, frame: Any) -> None:
        raise JobStopped(f"{job.name} was interrupted")

    signal.signal(signal.SIGINT, interrupted)
    try:
        if task["cwd"]:
            os.chdir(task["cwd"])
        capture.install()
        threading.Thread(target=listener, daemon=True).start()
        threading.Thread(target=flusher, daemon=True).start()
        send(("running",))
        with capture.job_context(job):  # type: ignore[arg-type]
            run_work(job, task["work"], lambda code: code())  # type: ignore[arg-type]
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the work is over: nothing to stop
    except JobStopped:
        # Interrupted outside the work (while starting, or as it ended): the kernel,
        # which asked for the stop, marks the job Stopped when the pipe closes.
        os._exit(0)
    sys.stdout.flush()
    items = _drain(job)
    if items:
        send(("items", items))
    assert job.outcome is not None
    state, reason = job.outcome
    try:
        pickled_reason = cloudpickle.dumps(reason) if reason is not None else None
    except Exception:
        pickled_reason = cloudpickle.dumps(RuntimeError(repr(reason)))
    send(("done", state.value, pickled_reason))
    connection.close()
