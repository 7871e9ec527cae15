"""What runs inside a process job's child process.

The child uses ipyjobs' own capture: its ``sys.stdout`` is the same router, writing into
a stand-in job's inbox list. A write sends the inbox to the kernel over the pipe itself
when the last send is older than ``FLUSH_INTERVAL`` seconds, and a helper thread sends
what writes left behind, so output is at most one interval late and never waits for a
second thread to get the GIL. Messages to the kernel are tuples:

    ("running", cpu)                   the work started (the process's CPU seconds then)
    ("items", [item, ...])             inbox items: str (stdout), (STDERR, str),
                                       (stream, pickled value, text) for other records
    ("blocked", prompt, secret)        the work waits in input() (its prompt was sent)
    ("done", state, reason, usage)     the work ended (reason: pickled exception or None;
                                       usage: its CPU seconds and peak resident bytes)

The kernel sends ("stop", tag) for a cooperative stop of task ``tag`` (None: whichever
runs), ("answer", text, echo) to a blocked ``input()``, and to a *lane* (a process that
runs a fan-out's children one after another, see ``backends.process``) ("task", tag,
payload) for its next child or ("close",) when no child is left for it. When the pipe
breaks (the kernel is gone, even killed with SIGKILL), the child exits at once.
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

from ..execution import capture  # imported here, so the forkserver preloads them all
from ..execution.resources import process_cpu, usage_since
from ..execution.work import run_work
from ..model.errors import JobStopped
from .shipping import StandInJob, drain, pickled_reason, unpack_work

FLUSH_INTERVAL = 0.05
#: A task taken from the pipe: its stand-in job, and what the kernel sent for it.
_Task = tuple[StandInJob, dict[str, Any]]

capture.prepare()  # in the forkserver, once: each child then installs the routers at once


def reset_peak_memory() -> None:
    """Make this process's peak resident size start again from its current size, so
    that a lane's child reports its own peak, not an earlier child's (Linux only)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass  # elsewhere a child's peak is its process's peak so far


class ChildProcess:
    """The child's side of the pipe: the task it runs now, and how its output goes."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.sending = threading.Lock()
        self.ended = True  # the current task's "done" has gone: nothing may follow it
        self.last_sent = 0.0  # when items last left (time.monotonic); none yet
        self.tag: Any = None
        self.job: StandInJob | None = None
        self.answers: queue.SimpleQueue[tuple[str, bool] | None] = queue.SimpleQueue()
        self.tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()  # None: close
        self.interruptible = False  # SIGINT stops the work only while it runs
        self.packed_work: Any = None  # a lane's work, sent with its first task only

    # -- tasks ----------------------------------------------------------------------------
    def accept(self, tag: Any, payload: bytes) -> None:
        """Take the next task (on the thread that read it, so a stop that follows it on
        the pipe finds it)."""
        task = cloudpickle.loads(payload)
        job = StandInJob(task["name"], task["location"])
        answers: queue.SimpleQueue[tuple[str, bool] | None] = queue.SimpleQueue()
        job.records.inbox = self._sender(job)
        job.asker = lambda prompt, secret: self._ask(prompt, secret, answers)
        self.tag, self.job, self.answers = tag, job, answers
        self.tasks.put((job, task))

    def run(self, job: StandInJob, task: dict[str, Any]) -> None:
        """Run one task and send how it ended."""
        if task["work"] is not None:
            self.packed_work = task["work"]
        work = unpack_work(self.packed_work)  # unpickled here, in the job's process
        if task.get("each") is not None:  # one child of a fan-out: the work for its item
            name, item = task["each"]
            work = work.for_item(cloudpickle.loads(item), name)
        if task["cwd"]:
            os.chdir(task["cwd"])
        reset_peak_memory()
        cpu_before = process_cpu()
        with self.sending:
            self.ended = False
            self.connection.send(("running", cpu_before))
        with capture.job_context(job):  # type: ignore[arg-type]
            run_work(job, work, self._interruptible)  # type: ignore[arg-type]
        sys.stdout.flush()
        assert job.outcome is not None
        state, reason = job.outcome
        self.flush(("done", state.value, pickled_reason(reason), usage_since(cpu_before)))

    def _interruptible(self, run: Any, job: Any) -> None:
        self.interruptible = True
        try:
            run(job)
        finally:
            self.interruptible = False

    def interrupted(self, signum: int, frame: Any) -> None:
        """SIGINT, the stop ladder's second step: it stops the work it was meant for."""
        job = self.job
        if self.interruptible and job is not None and job.stop_requested:
            raise JobStopped(f"{job.name} was interrupted")

    # -- sending --------------------------------------------------------------------------
    def flush(self, final: tuple[Any, ...] | None = None, wait: bool = True) -> None:
        """Drain and send under one lock, then ``final`` if given. A flush on the helper
        thread and the final one on the job's thread would otherwise interleave: the
        final one could send "done" before the other's items, which the kernel, reading
        no further, would lose. ``wait=False``: if another thread is sending, leave it."""
        if not self.sending.acquire(blocking=wait):
            return
        try:
            if self.ended or self.job is None:
                return
            items = drain(self.job)
            if items:
                self.connection.send(("items", items))
                self.last_sent = time.monotonic()
            if final is not None:
                self.connection.send(final)
                self.ended = True
        finally:
            self.sending.release()

    def _sender(self, job: StandInJob) -> Any:
        append = job.records.pending.append

        def send_as_written(item: Any) -> None:
            """The job's writes: one that ends a line (or is not text) and finds the last
            send older than the interval sends at once, from the writing thread. A C
            call that holds the GIL (a long ``sum``) would keep the helper thread from
            ever running, and what the job wrote before it would wait until it returned.
            (``print`` writes its text, then the newline: the pair goes together.)"""
            append(item)
            if time.monotonic() - self.last_sent >= FLUSH_INTERVAL:
                text = item if item.__class__ is str else item[1] if len(item) == 2 else "\n"
                if text.endswith("\n"):
                    self.flush(wait=False)

        return send_as_written

    def _ask(
        self, prompt: str, secret: bool, answers: queue.SimpleQueue[tuple[str, bool] | None]
    ) -> tuple[str, bool] | None:
        """The job is Blocked in the kernel until an answer (or a stop: None) comes."""
        self.flush()  # the prompt's text goes first
        with self.sending:
            self.connection.send(("blocked", prompt, secret))
        return answers.get()

    # -- the helper thread ----------------------------------------------------------------
    def keep_the_pipe(self) -> None:
        """The child's one helper thread (a second one cost a start each job): it reads
        what the kernel sends, a stop or the end of the pipe when the kernel is gone, and
        every ``FLUSH_INTERVAL`` sends what writes left behind (those within the
        interval of a send). It hands answers to a blocked ``input()``, and a lane's
        next task to its main thread."""
        while True:
            try:
                if self.connection.poll(FLUSH_INTERVAL):
                    message = self.connection.recv()
                    kind = message[0]
                    if kind == "answer":
                        self.answers.put((message[1], message[2]))
                    elif kind == "stop":
                        if self.job is not None and message[1:2] in ((), (None,), (self.tag,)):
                            self.job.stop_requested = True
                            self.answers.put(None)  # a blocked input() ends with the stop
                    elif kind == "task":
                        self.accept(message[1], message[2])
                    elif kind == "close":
                        self.tasks.put(None)
                        return
            except (EOFError, OSError):
                os._exit(0 if self.ended else 70)  # the kernel is gone: leave nothing behind
            self.flush()


def main(connection: Any, payload: bytes, lane: bool = False) -> None:
    """Entry point of the child process (started by the forkserver): run the task in
    ``payload``, and in a ``lane`` every task that follows until the kernel closes it."""
    child = ChildProcess(connection)
    child.accept(1, payload)
    signal.signal(signal.SIGINT, child.interrupted)
    capture.install()
    # A bare thread: threading.Thread.start waits for it to run (half a millisecond
    # of a job's start); this one needs no join, as the process ends with the work.
    _thread.start_new_thread(child.keep_the_pipe, ())
    next_task = child.tasks.get()
    while next_task is not None:
        child.run(*next_task)
        if not lane:
            break
        next_task = child.tasks.get()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the work is over: nothing to stop
    connection.close()
