"""A parent job and its children (DESIGN §1): walking a family, and a parent's state,
which is derived from its children's each time one of them changes.

These are ``Job``'s own workings, kept apart because they are about many jobs at once:
they read the children's state and change the parent's through ``Job._change_state``,
the one place a state changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from .state import FAILED, NOT_STARTED, JobState, derive_from_counts, derive_parent_state

if TYPE_CHECKING:
    from .job import Job
    from .records import Record


def walk(jobs: Iterable[Job]) -> list[Job]:
    """Each job followed by its descendants (a list: the recursive generator it was
    cost three calls a child, and a fan-out's receive and remove walk it four times)."""
    every: list[Job] = []
    for job in jobs:
        every.append(job)
        if job.child_jobs:
            every += walk(job.child_jobs)
    return every


def count_states(children: Iterable[Job]) -> dict[JobState, int]:
    """How many of ``children`` are in each state, counted now."""
    counts: dict[JobState, int] = {}
    for child in children:
        counts[child._state] = counts.get(child._state, 0) + 1
    return counts


def follow_child(parent: Job, previous: JobState | None, new: JobState | None) -> None:
    """Follow a child's change from ``previous`` to ``new`` (None: just look again)."""
    counts = parent._counts
    if counts is None:
        parent._change_state(parent._decide_from_children)
        return
    changes = counts.changes
    changes.append((previous, new))  # ChildCounts.note, inline: this runs per change
    # See ChildCounts: whoever holds the lock counts every queued change, and looks
    # again after letting go, so no change is left uncounted.
    while changes and counts.lock.acquire(blocking=False):
        try:
            counts.apply()
            state = derive_from_counts(counts.counts, int(parent.expecting_children))
            # Only the holder of this lock changes a counting parent's state, so it
            # knows it is unchanged without taking the state lock.
            if state is not parent._state:
                parent._change_state(None, state, failed_reason(parent, state))
        finally:
            counts.lock.release()


def decide_from_children(parent: Job) -> tuple[JobState, BaseException | None]:
    """The state (and reason) a parent that keeps no counts takes from its children."""
    children = parent.child_jobs
    if len(children) == 1 and not parent.expecting_children:
        (child,) = children  # a local job: the parent mirrors its child
        return child._state, child._reason
    states = [child._state for child in children]
    if parent.expecting_children:
        states.append(NOT_STARTED)
    state = derive_parent_state(states)
    return state, failed_reason(parent, state)


def failed_reason(parent: Job, state: JobState) -> BaseException | None:
    """A failed parent's reason: its first failed child's (looked for once: a finished
    parent never changes again)."""
    if state is not FAILED:
        return None
    return next((c._reason for c in parent.child_jobs if c._state is FAILED), None)


def blocked_member(job: Job) -> Job | None:
    """The job that waits for an answer: ``job``, or its first blocked descendant."""
    if job._prompt is not None:
        return job
    return next((b for c in job.child_jobs if (b := blocked_member(c)) is not None), None)


def take_records(
    job: Job, keep: bool = False, no_recurse: bool = False, location: str | None = None
) -> list[Record]:
    """``job``'s unreceived records, then each child's in child order (``location``:
    only the members there; ``no_recurse``: ``job``'s own)."""
    records: list[Record] = []
    if job._records is not None and (location is None or job.location == location):
        records += job._records.take(keep)
    if not no_recurse:
        for child in job.child_jobs:
            records += take_records(child, keep, location=location)
    return records


def stream_records(
    job: Job, keep: bool = False, no_recurse: bool = False, location: str | None = None
) -> Iterator[Record]:
    """``take_records`` as they are read, spilled text in bounded pieces (for a
    replaying receive: a gigabyte of output never sits in memory at once)."""
    if job._records is not None and (location is None or job.location == location):
        yield from job._records.take_stream(keep)
    if not no_recurse:
        for child in job.child_jobs:
            yield from stream_records(child, keep, location=location)
