"""What runs inside a process job's child process.

The child uses ipyjobs' own capture: its ``sys.stdout`` is the same router, writing into
a stand-in job's inbox list. A write sends the inbox to the kernel over the pipe itself
when the last send is older than ``FLUSH_INTERVAL`` seconds, and a helper thread sends
what writes left behind, so output is at most one interval late and never waits for a
second thread to get the GIL. Messages to the kernel are tuples:

    ("running",)                       the work started
    ("items", [item, ...])             inbox items: str (stdout), (STDERR, str),
                                       (stream, pickled value, text) for other records
    ("blocked", prompt, secret)        the work waits in input() (its prompt was sent)
    ("done", state, reason, usage)     the work ended (reason: pickled exception or None;
                                       usage: CPU seconds and peak resident bytes)

The kernel sends ("stop",) for a cooperative stop and ("answer", text, echo) to a blocked
``input()``. When the pipe breaks (the kernel is
gone, even killed with SIGKILL), the child exits at once.
"""

from __future__ import annotations

import _thread
import os
import queue
import signal
import sys
import threading
import time
from typing import Any

import cloudpickle

from .. import capture  # imported here, so the forkserver preloads them all
from ..errors import JobStopped
from ..execution import run_work
from ..resources import usage_since
from .shipping import StandInJob, drain, pickled_reason, unpack_work

FLUSH_INTERVAL = 0.05

capture.prepare()  # in the forkserver, once: each child then installs the routers at once


def main(connection: Any, payload: bytes) -> None:
    """Entry point of the child process (started by the forkserver)."""
    task = cloudpickle.loads(payload)
    task["work"] = unpack_work(task["work"])  # unpickled here, in the job's process
    if task.get("each") is not None:  # one child of a fan-out: the work for its item
        name, item = task["each"]
        task["work"] = task["work"].for_item(cloudpickle.loads(item), name)
    job = StandInJob(task["name"], task["location"])
    sending = threading.Lock()
    ended = False
    last_sent = 0.0  # when items last left (time.monotonic); none yet, so the first goes

    def flush(final: tuple[Any, ...] | None = None, wait: bool = True) -> None:
        """Drain and send under one lock, then ``final`` if given. A flush on the flusher
        thread and the final one on this thread would otherwise interleave: the final
        one could send "done" before the other's items, which the kernel, reading no
        further, would lose. ``wait=False``: if another thread is sending, leave it."""
        nonlocal ended, last_sent
        if not sending.acquire(blocking=wait):
            return
        try:
            if ended:
                return  # "done" has gone: nothing may follow it
            items = drain(job)
            if items:
                connection.send(("items", items))
                last_sent = time.monotonic()
            if final is not None:
                connection.send(final)
                ended = True
        finally:
            sending.release()

    def send_as_written(item: Any, append: Any = job.records.pending.append) -> None:
        """The job's writes: one that ends a line (or is not text) and finds the last
        send older than the interval sends at once, from the writing thread. A C call
        that holds the GIL (a long ``sum``) would keep the flusher thread from ever
        running, and what the job wrote before it would wait until it returned. (``print``
        writes its text, then the newline: the pair goes together.)"""
        append(item)
        if time.monotonic() - last_sent >= FLUSH_INTERVAL:
            text = item if item.__class__ is str else item[1] if len(item) == 2 else "\n"
            if text.endswith("\n"):
                flush(wait=False)

    job.records.inbox = send_as_written
    answers: queue.SimpleQueue[tuple[str, bool] | None] = queue.SimpleQueue()

    def ask_the_kernel(prompt: str, secret: bool) -> tuple[str, bool] | None:
        """The job is Blocked in the kernel until an answer (or a stop: None) comes."""
        flush()  # the prompt's text goes first
        with sending:
            connection.send(("blocked", prompt, secret))
        return answers.get()

    job.asker = ask_the_kernel

    def keep_the_pipe() -> None:
        """The child's one helper thread (a second one cost a start each job): it reads
        what the kernel sends, a stop or the end of the pipe when the kernel is gone, and
        every ``FLUSH_INTERVAL`` sends what writes left behind (those within the
        interval of a send). It hands answers to a blocked ``input()``."""
        while True:
            try:
                if connection.poll(FLUSH_INTERVAL):
                    message = connection.recv()
                    if message[0] == "answer":
                        answers.put((message[1], message[2]))
                    elif message[0] == "stop":
                        job.stop_requested = True
                        answers.put(None)  # a blocked input() ends with the stop
            except (EOFError, OSError):
                os._exit(70)  # the kernel is gone: leave nothing behind
            flush()

    def interrupted(signum: int, frame: Any) -> None:
        raise JobStopped(f"{job.name} was interrupted")

    signal.signal(signal.SIGINT, interrupted)
    try:
        if task["cwd"]:
            os.chdir(task["cwd"])
        capture.install()
        # A bare thread: threading.Thread.start waits for it to run (half a millisecond
        # of a job's start); this one needs no join, as the process ends with the work.
        _thread.start_new_thread(keep_the_pipe, ())
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
    flush(("done", state.value, pickled_reason(reason), usage_since(0.0)))
    connection.close()
