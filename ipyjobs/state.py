"""Job states (PowerShell's names) and how a parent's state follows from its children."""

from __future__ import annotations

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
    if not states or all(s is JobState.NOT_STARTED for s in states):
        return JobState.NOT_STARTED
    if any(s is JobState.BLOCKED for s in states):
        return JobState.BLOCKED
    if any(s is JobState.STOPPING for s in states):
        return JobState.STOPPING
    if any(s is JobState.RUNNING for s in states):
        return JobState.RUNNING
    unfinished = [s for s in states if not s.finished]
    if unfinished:
        if all(s is JobState.SUSPENDED for s in unfinished):
            return JobState.SUSPENDED
        if any(s is JobState.SUSPENDING for s in unfinished):
            return JobState.SUSPENDING
        if any(s is JobState.DISCONNECTED for s in unfinished):
            return JobState.DISCONNECTED
        return JobState.RUNNING  # some started and finished, others not started yet
    if JobState.FAILED in states:
        return JobState.FAILED
    if JobState.STOPPED in states:
        return JobState.STOPPED
    return JobState.COMPLETED
