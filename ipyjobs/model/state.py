"""Job states (PowerShell's names) and how a parent's state follows from its children."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from .errors import InvalidStateError


class JobState(StrEnum):
    """A job's state; the values are PowerShell's ``JobState`` names, so
    ``job.state == "Running"`` holds."""

    NOT_STARTED = "NotStarted"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    BLOCKED = "Blocked"
    SUSPENDING = "Suspending"
    SUSPENDED = "Suspended"
    DISCONNECTED = "Disconnected"

    @property
    def finished(self) -> bool:
        """True for the states a job never leaves."""
        return self in FINISHED_STATES

    @classmethod
    def parse(cls, value: str | JobState) -> JobState:
        """The state named ``value`` (case-insensitive, as PowerShell's ``-State``)."""
        if isinstance(value, JobState):
            return value
        if isinstance(value, str):
            folded = value.replace("_", "").lower()
            for state in cls:
                if state.value.lower() == folded:
                    return state
        names = ", ".join(s.value for s in cls)
        raise InvalidStateError(f"unknown job state {value!r}; expected one of: {names}")


#: The members as plain module names, for the paths every child's change takes: on
#: Python 3.11 each ``JobState.X`` is an enum lookup of about 60 ns, and a fan-out child's
#: bookkeeping made dozens of them.
NOT_STARTED = JobState.NOT_STARTED
RUNNING = JobState.RUNNING
COMPLETED = JobState.COMPLETED
FAILED = JobState.FAILED
STOPPING = JobState.STOPPING
STOPPED = JobState.STOPPED
BLOCKED = JobState.BLOCKED
SUSPENDING = JobState.SUSPENDING
SUSPENDED = JobState.SUSPENDED
DISCONNECTED = JobState.DISCONNECTED

FINISHED_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.STOPPED})

#: States in which ``wait_job`` stops waiting: the finished ones plus those PowerShell's
#: Wait-Job also returns on, since no progress will come without the user acting (a
#: Blocked job waits for an answer).
WAIT_RETURNS_STATES = FINISHED_STATES | {
    JobState.SUSPENDED,
    JobState.DISCONNECTED,
    JobState.BLOCKED,
}


@dataclass(frozen=True, slots=True)
class JobStateInfo:
    """PowerShell's ``JobStateInfo``: the state and, for a failed job, why."""

    state: JobState
    reason: BaseException | None = None

    def __str__(self) -> str:
        return self.state.value


def derive_parent_state(children: Iterable[JobState]) -> JobState:
    """A parent ("executive") job's state, from its children's (docs/user-guide.md)."""
    states = list(children)
    if len(states) == 1:
        return states[0]  # a local job's parent simply mirrors its one child
    counts: dict[JobState, int] = {}
    for state in states:
        counts[state] = counts.get(state, 0) + 1
    return derive_from_counts(counts)


def derive_from_counts(counts: dict[JobState, int], not_started: int = 0) -> JobState:
    """The same rules from how many children are in each state (what a parent keeps, so
    a fan-out of thousands derives its state in constant time). ``not_started`` children
    more are counted (a lazy fan-out's next one). A count below zero, seen for a moment
    while two changes of one child are counted in the other order, counts as zero.
    (Written out state by state: it runs at every change of every child.)"""
    get = counts.get
    total = not_started
    for count in counts.values():
        if count > 0:
            total += count
    if not total or max(0, get(NOT_STARTED, 0)) + not_started == total:
        return NOT_STARTED
    if get(BLOCKED, 0) > 0:
        return BLOCKED
    if get(STOPPING, 0) > 0:
        return STOPPING
    if get(RUNNING, 0) > 0:
        return RUNNING
    failed = max(0, get(FAILED, 0))
    stopped = max(0, get(STOPPED, 0))
    unfinished = total - failed - stopped - max(0, get(COMPLETED, 0))
    if unfinished:
        if get(SUSPENDED, 0) == unfinished:
            return SUSPENDED
        if get(SUSPENDING, 0) > 0:
            return SUSPENDING
        if get(DISCONNECTED, 0) > 0:
            return DISCONNECTED
        return RUNNING  # some started and finished, others not started yet
    if failed:  # Failed if any failed, else Stopped if any stopped
        return FAILED
    return STOPPED if stopped else COMPLETED


class ChildCounts:
    """How many of a parent's children are in each state, kept as they change.

    Children running in several threads each report their changes, and a parent of a
    thousand would otherwise have them queue on its lock: whenever the GIL left one
    thread holding it, the others blocked there one after another, a wake-up each
    (a 1 000-item fan-out took up to 3 000 context switches, three times its time).
    So a change is queued (``note``, never blocking) and whichever thread gets ``lock``
    applies every queued change (flat combining); a thread that finds the lock taken
    leaves its change to the holder, which looks again after letting go.
    """

    __slots__ = ("changes", "counts", "lock")

    def __init__(self, counts: dict[JobState, int]) -> None:
        self.counts = counts
        self.changes: deque[tuple[JobState | None, JobState | None]] = deque()
        self.lock = threading.Lock()

    def note(self, previous: JobState | None, new: JobState | None) -> None:
        """A child went from ``previous`` to ``new`` (None: was not there, or no change)."""
        self.changes.append((previous, new))

    def apply(self) -> None:
        """Count the queued changes in; call with ``lock`` held."""
        counts, changes = self.counts, self.changes
        while changes:
            previous, new = changes.popleft()
            if previous is not None:
                counts[previous] = counts.get(previous, 0) - 1
            if new is not None:
                counts[new] = counts.get(new, 0) + 1

    def snapshot(self) -> dict[JobState, int]:
        """The counts now (with the queued changes, unless a thread is applying them)."""
        if self.lock.acquire(blocking=False):
            try:
                self.apply()
            finally:
                self.lock.release()
        return {state: n for state, n in dict(self.counts).items() if n > 0}
