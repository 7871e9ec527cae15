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

import os
import signal
import sys
import threading
import time
from typing import Any

import cloudpickle

from .shipping import StandInJob, drain, pickled_reason, unpack_work

FLUSH_INTERVAL = 0.05


def main(connection: Any, payload: bytes) -> None:
    """Entry point of the child process (started by the forkserver)."""
    from .. import capture
    from ..errors import JobStopped
    from ..execution import run_work

    task = cloudpickle.loads(payload)
    task["work"] = unpack_work(task["work"])  # unpickled here, in the job's process
    job = StandInJob(task["name"], task["location"])
    sending = threading.Lock()
    ended = False

    def flush(final: tuple[Any, ...] | None = None) -> None:
        """Drain and send under one lock, then ``final`` if given. A flush on the flusher
        thread and the final one on this thread would otherwise interleave: the final
        one could send "done" before the other's items, which the kernel, reading no
        further, would lose."""
        nonlocal ended
        with sending:
            if ended:
                return  # "done" has gone: nothing may follow it
            items = drain(job)
            if items:
                connection.send(("items", items))
            if final is not None:
                connection.send(final)
                ended = True

    def flusher() -> None:
        while True:
            time.sleep(FLUSH_INTERVAL)
            flush()

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
        with sending:
            connection.send(("running",))
        with capture.job_context(job):  # type: ignore[arg-type]
            run_work(job, task["work"], lambda code: code())  # type: ignore[arg-type]
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the work is over: nothing to stop
    except JobStopped:
        # Interrupted outside the work (while starting, or as it ended): the kernel,
        # which asked for the stop, marks the job Stopped when the pipe closes.
        os._exit(0)
    sys.stdout.flush()
    assert job.outcome is not None
    state, reason = job.outcome
    flush(("done", state.value, pickled_reason(reason)))
    connection.close()
