"""The Job: a handle on background work, with PowerShell's parent/child structure.

Every state change goes through ``Job._change_state``: one ``threading.Condition`` per job,
finished jobs never change again, and callbacks run outside the lock (as in
``concurrent.futures.Future``). A parent ("executive") job does no work; its state is
derived from its children each time one of them changes.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from time import time as _clock
from typing import TYPE_CHECKING, Any

from . import family, waiting
from .controls import JobController, Runner
from .errors import JobArgumentError, JobStateError
from .record_buffer import RecordBuffer
from .records import Record, Stream
from .state import (
    BLOCKED,
    FAILED,
    FINISHED_STATES,
    NOT_STARTED,
    ChildCounts,
    JobState,
    JobStateInfo,
)

if TYPE_CHECKING:
    from .records import Progress

log = logging.getLogger("ipyjobs")

StateCallback = Callable[["Job", JobState, JobState], object]
_making_records = threading.Lock()  # makes a parent's record buffer once
#: The answer slot of a job blocked in ``getpass()`` until it is answered.
_SECRET: Any = ("", False)


class Job:
    """A background job. Parents hold ``child_jobs``; children do the work."""

    # Slots, a Condition made only when someone waits, and a parent's record buffer made
    # only if it is used: a finished job held in a session of thousands costs little.
    __slots__ = (
        "__weakref__",
        "_answer",
        "_begin",
        "_callbacks",
        "_condition",
        "_counts",
        "_cpu_time",
        "_end",
        "_instance_id",
        "_lock",
        "_memory_limit",
        "_peak_memory",
        "_prompt",
        "_reason",
        "_records",
        "_state",
        "asked",
        "checks_stop",
        "child_jobs",
        "command",
        "controller",
        "expecting_children",
        "has_output",
        "id",
        "job_type",
        "last_output",
        "location",
        "name",
        "overrun",
        "parent",
        "progress",
        "removed",
        "runner",
        "stop_requested",
    )

    def __init__(
        self,
        id: int,
        *,
        name: str | None = None,
        job_type: str,
        command: str,
        location: str = "localhost",
        parent: Job | None = None,
        memory_limit: int = 1 << 20,
    ) -> None:
        self.id = id
        self.name = name or f"Job{id}"
        self._instance_id: uuid.UUID | None = None
        self.job_type = job_type
        self.command = command
        self.location = location
        self.parent = parent
        self.child_jobs: list[Job] = []
        # When it began and ended (``time.time()``; read as datetimes): a clock read
        # is a third of what ``datetime.now()`` costs, twice for every child.
        self._begin: float | None = None
        self._end: float | None = None
        self._memory_limit = memory_limit
        # A child records what its work produces; a parent's buffer waits until used.
        self._records = RecordBuffer(self, memory_limit) if parent is not None else None
        #: True once a stop was asked for; ``check_stop()`` in the job raises then.
        self.stop_requested = False
        #: True once the job's code called ``check_stop()``: it cooperates, so a stop
        #: gives it the grace period before anything forceful.
        self.checks_stop = False
        #: The last output value (kept apart from the records: ``result()`` consumes none).
        self.last_output: Any = None
        self.has_output = False
        self.progress: Progress | None = None
        self.runner: Runner | None = None
        self.controller: JobController | None = None
        self.removed = False
        #: A fan-out over a lazy iterable makes its children as it takes items: until
        #: the last is taken, the parent counts one more child, not started yet.
        self.expecting_children = False
        #: Set when the job ran past its time limit: however it then ends, it is Failed
        #: with this reason (a ``JobTimeoutError``).
        self.overrun: BaseException | None = None
        self._cpu_time: float | None = None
        #: A parent of many children: how many are in each state (see count_children).
        self._counts: ChildCounts | None = None
        self._peak_memory: int | None = None
        self._state = NOT_STARTED
        self._reason: BaseException | None = None
        #: Guards the state. Its Condition (for waiting) is made by the first waiter.
        self._lock = threading.Lock()
        self._condition: threading.Condition | None = None
        self._callbacks: list[StateCallback] | None = None
        self._prompt: str | None = None  # what the job asks, while it is Blocked
        self._answer: Any = None  # the answer, until the job's thread takes it
        #: How many times the job has asked for input (each prompt is a new one).
        self.asked = 0
        if parent is not None:
            with parent._lock:
                parent.child_jobs.append(self)
                if parent._counts is not None:
                    parent._counts.note(None, NOT_STARTED)

    @property
    def records(self) -> RecordBuffer:
        """The job's record buffer (see ``record_buffer.RecordBuffer``)."""
        records = self._records
        if records is None:
            with _making_records:  # not the state lock: this may be read while it is held
                if self._records is None:
                    self._records = RecordBuffer(self, self._memory_limit)
                records = self._records
        return records

    def _waiting(self) -> threading.Condition:
        """The job's one Condition, over its state lock; call with the lock held."""
        if self._condition is None:
            self._condition = threading.Condition(self._lock)
        return self._condition

    # -- attributes -----------------------------------------------------------------------
    @property
    def instance_id(self) -> uuid.UUID:
        """A uuid4 naming this job uniquely (made on first use: starting stays cheap)."""
        if self._instance_id is None:
            self._instance_id = uuid.uuid4()
        return self._instance_id

    @property
    def state(self) -> JobState:
        return self._state

    @property
    def begin_time(self) -> datetime | None:
        """When the job began running (PowerShell's PSBeginTime); None before."""
        return None if self._begin is None else datetime.fromtimestamp(self._begin)

    @begin_time.setter
    def begin_time(self, value: datetime | None) -> None:
        self._begin = None if value is None else value.timestamp()

    @property
    def end_time(self) -> datetime | None:
        """When the job finished (PSEndTime); None before."""
        return None if self._end is None else datetime.fromtimestamp(self._end)

    @property
    def reason(self) -> BaseException | None:
        """The exception that failed the job; None unless the job is Failed."""
        return self._reason

    @property
    def cpu_time(self) -> float | None:
        """CPU seconds the job used so far (final once it finished): its thread's for a
        thread job, its process's for process and remote jobs; a parent sums its
        children's. None until known."""
        if not self.child_jobs:
            return self._cpu_time
        times = [c.cpu_time for c in self.child_jobs]
        known = [t for t in times if t is not None]
        return sum(known) if known else None

    @property
    def peak_memory(self) -> int | None:
        """Peak resident bytes of the job's process (process and remote jobs; None for
        thread jobs, which share the kernel's); a parent gives its largest child's."""
        if not self.child_jobs:
            return self._peak_memory
        known = [m for c in self.child_jobs if (m := c.peak_memory) is not None]
        return max(known) if known else None

    def note_usage(self, cpu_time: float | None, peak_memory: int | None = None) -> None:
        """Record what the job used so far (a backend's sample, or the final figures)."""
        if cpu_time is not None:
            self._cpu_time = cpu_time
        if peak_memory is not None:
            self._peak_memory = max(peak_memory, self._peak_memory or 0)

    @property
    def state_info(self) -> JobStateInfo:
        with self._lock:
            return JobStateInfo(self._state, self._reason)

    @property
    def finished(self) -> bool:
        return self._state.finished

    @property
    def has_more_data(self) -> bool:
        """True exactly while unreceived records exist, here or in a child."""
        records = self._records
        return (records is not None and records.has_data()) or any(
            c.has_more_data for c in self.child_jobs
        )

    def __repr__(self) -> str:
        return f"<{self.job_type} {self.id} {self.name!r} {self._state.value}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        from .formatting import job_table

        printer.text(job_table([self]))

    # -- state --------------------------------------------------------------------------
    def add_state_callback(self, callback: StateCallback) -> None:
        """Call ``callback(job, previous, new)`` after each state change, outside any lock.
        An exception in a callback (any ``BaseException``, ``SystemExit`` included) is
        logged, never raised into the job or whoever changed its state."""
        with self._lock:
            if self._callbacks is None:
                self._callbacks = []
            self._callbacks.append(callback)

    def remove_state_callback(self, callback: StateCallback) -> None:
        with self._lock:
            if self._callbacks and callback in self._callbacks:
                self._callbacks.remove(callback)

    def set_state(
        self,
        new: JobState,
        reason: BaseException | None = None,
        *,
        only_from: Iterable[JobState] | None = None,
    ) -> bool:
        """Move a child job to ``new``, atomically, if it is in one of ``only_from`` (any
        unfinished state by default). False, and no change, otherwise."""
        allowed = None if only_from is None else frozenset(only_from)
        return self._change_state(None, new, reason, allowed)

    def _change_state(
        self,
        decide: Callable[[], tuple[JobState, BaseException | None] | None] | None,
        new: JobState = NOT_STARTED,
        reason: BaseException | None = None,
        allowed: frozenset[JobState] | None = None,
    ) -> bool:
        """The one place a state changes: to what ``decide()`` says, under the lock (None:
        no change), or with no ``decide`` to ``new`` if the state is in ``allowed`` (None:
        any unfinished one; the common case needs no function made for it)."""
        with self._lock:
            previous = self._state
            if previous in FINISHED_STATES:
                return False
            if decide is not None:
                decision = decide()
                if decision is None:
                    return False
                new, reason = decision
            elif allowed is not None and previous not in allowed:
                return False
            if new is previous:
                return False
            ends = new in FINISHED_STATES
            if ends and self.overrun is not None:
                new, reason = FAILED, self.overrun  # stopped for its time limit
            self._state = new
            if new is not BLOCKED:
                self._prompt = None  # answered, or a stop or an end came first
            if ends:
                self._end = _clock()
                self._reason = reason if new is FAILED else None
                if self._begin is None and previous is not NOT_STARTED:
                    self._begin = self._end
            elif self._begin is None and new is not NOT_STARTED:
                self._begin = _clock()
            if self._condition is not None:
                self._condition.notify_all()
                if ends:  # its waiters need it no more; later ones never wait
                    self._condition = None
            callbacks = list(self._callbacks) if self._callbacks else ()
            if ends:
                self._callbacks = None  # a finished job never changes again
        for callback in callbacks:
            try:
                callback(self, previous, new)
            except BaseException:  # SystemExit too: it must not end the job's thread
                log.exception("ipyjobs: state callback %r of %s failed", callback, self.name)
        if self.parent is not None:
            self.parent._derive_state(previous, new)
        return True

    def mark_overrun(self, reason: BaseException) -> bool:
        """Note that the job ran past its time limit, unless it has already finished;
        it then ends Failed with ``reason`` however it stops."""
        with self._lock:
            if self._state.finished:
                return False
            self.overrun = reason
            return True

    def count_children(self) -> None:
        """Keep count of the children in each state from now on, so the parent's state
        follows each change in constant time (a fan-out of a thousand took 0.3 ms a
        change, 0.7 s in all, deriving it from every child). Call it before any child
        can change; later children are counted as they are made."""
        with self._lock:
            self._counts = ChildCounts(family.count_states(self.child_jobs))

    def state_counts(self) -> dict[JobState, int]:
        """How many of the children are in each state: the counts the parent keeps (see
        ``count_children``), or counted now for a parent that keeps none."""
        counts = self._counts
        if counts is not None:
            return counts.snapshot()
        with self._lock:
            return family.count_states(self.child_jobs)

    def derive_state(self) -> None:
        """Derive a parent's state again (its fan-out took its last item)."""
        self._derive_state()

    def _derive_state(self, previous: JobState | None = None, new: JobState | None = None) -> None:
        """Follow a child's change from ``previous`` to ``new`` (None: just look again)."""
        family.follow_child(self, previous, new)

    def _decide_from_children(self) -> tuple[JobState, BaseException | None]:
        return family.decide_from_children(self)

    # -- input (Blocked) ------------------------------------------------------------------
    @property
    def prompt(self) -> str | None:
        """What the job asks while it is Blocked (a parent: its first blocked child's
        prompt); None otherwise."""
        blocked = self.blocked_child()
        return blocked._prompt if blocked is not None else None

    @property
    def prompt_is_secret(self) -> bool:
        """True while the job waits in ``getpass()``: the answer is shown nowhere."""
        blocked = self.blocked_child()
        return blocked is not None and blocked._answer is _SECRET

    def blocked_child(self) -> Job | None:
        """The job that waits for an answer: this one, or its first blocked child."""
        return family.blocked_member(self)

    def send_input(self, text: str, *, echo: bool = True) -> None:
        """Answer the job's prompt (a parent: its blocked child's); the job runs on and
        its ``input()`` returns ``text``, which is also written after the prompt in the
        job's output, as a terminal shows it (``echo=False``: not, for an answer the user
        just typed where the output is shown). A ``JobStateError`` unless Blocked."""
        if not isinstance(text, str):
            raise JobArgumentError(f"an answer is a str, not {type(text).__name__}")
        blocked = self.blocked_child()
        if blocked is None or blocked.runner is None:
            raise JobStateError(f"{self.name} is {self._state.value}, not Blocked: it asks nothing")
        blocked.runner.answer(blocked, text, echo)

    def block(self, prompt: str, secret: bool = False) -> bool:
        """Running -> Blocked, asking ``prompt`` (set first, so whoever hears of the state
        sees it). False if the job was not Running (a stop came first)."""

        def decide() -> tuple[JobState, None] | None:
            if self._state is not JobState.RUNNING:
                return None
            self._prompt, self._answer = prompt, _SECRET if secret else None
            self.asked += 1
            return JobState.BLOCKED, None

        return self._change_state(decide)

    def unblock(self, answer: tuple[str, bool] | None = None) -> bool:
        """Blocked -> Running, keeping ``answer`` (the text, and whether to echo it) for
        ``wait_for_answer``; atomic, so of two answers to one prompt only the first is
        taken. False if the job is not Blocked."""

        def decide() -> tuple[JobState, None] | None:
            if self._state is not JobState.BLOCKED:
                return None
            self._answer = answer
            return JobState.RUNNING, None

        return self._change_state(decide)

    def wait_for_answer(self) -> tuple[str, bool] | None:
        """In the job's thread, after ``block``: the answer and whether to echo it, once
        given; None if a stop came instead (the job is Stopping, or finished)."""
        with self._lock:
            self._waiting().wait_for(lambda: self._state is not JobState.BLOCKED)
            answer, self._answer = self._answer, None
            return answer if self._state is JobState.RUNNING else None

    # -- waiting ------------------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job finishes (or is suspended); True unless timed out."""
        return bool(waiting.wait_jobs([self], timeout=timeout))

    def wait_until_finished(self, timeout: float | None = None) -> bool:
        """Block until Completed, Failed or Stopped (a suspended job is not finished)."""
        with self._lock:
            if self._state.finished:
                return True
            return self._waiting().wait_for(lambda: self._state.finished, timeout)

    def result(self, timeout: float | None = None) -> Any:
        """Wait, then return the last output value or raise the failure. Consumes no
        records. A parent with several children returns a list, one per child."""
        return waiting.result(self, timeout)

    # -- records ------------------------------------------------------------------------
    def write_output(self, value: Any, _output: Stream = Stream.OUTPUT) -> None:
        self.last_output, self.has_output = value, True
        self.records.add(_output, value)  # (a default: see the note in ``state``)

    def stream_records(
        self, keep: bool = False, no_recurse: bool = False, location: str | None = None
    ) -> Iterator[Record]:
        """``take_records`` as they are read (see ``family.stream_records``)."""
        return family.stream_records(self, keep, no_recurse, location)

    def take_records(
        self, keep: bool = False, no_recurse: bool = False, location: str | None = None
    ) -> list[Record]:
        """This job's unreceived records, then each child's in child order."""
        return family.take_records(self, keep, no_recurse, location)

    def release(self) -> None:
        """Free everything the job holds (it was removed): its records and spill file, the
        last output value, its progress and its runner. A user may still hold the Job;
        what it produced must not stay alive through it."""
        self.removed = True
        if self._records is not None:
            self._records.close()
        self.last_output, self.has_output = None, False
        self.progress = None
        self.runner = None

    # -- delegated to the manager -------------------------------------------------------
    def _controller(self) -> JobController:
        if self.controller is None:
            raise JobStateError(f"{self.name} is not managed by a JobManager")
        return self.controller

    def receive(self, **options: Any) -> list[Any]:
        """Receive-Job on this job; see ``ipyjobs.receive_job`` for the options."""
        return self._controller().receive_job(self, **options)

    def stop(self) -> Job:
        self._controller().stop_job(self)
        return self

    def suspend(self) -> Job:
        self._controller().suspend_job(self)
        return self

    def resume(self) -> Job:
        self._controller().resume_job(self)
        return self

    def remove(self, force: bool = False) -> None:
        self._controller().remove_job(self, force=force)
