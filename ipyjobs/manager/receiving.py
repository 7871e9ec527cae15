"""Receive-Job: a job's records are handed over once (kept only with ``keep``), and
``wait`` streams them while the jobs run (until they finish or wait for an answer)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..execution.host import Host
from ..execution.replay import replay
from ..model.errors import JobArgumentError, JobNotFoundError
from ..model.family import walk
from ..model.job import Job
from ..model.records import Record
from ..model.state import JobState
from ..model.waiting import check_timeout, wait_jobs

#: How often ``wait`` hands over new output while jobs run.
STREAM_INTERVAL = 0.05


@dataclass(frozen=True)
class ReceiveOptions:
    """Receive-Job's switches, checked together before anything is handed over."""

    keep: bool = False
    wait: bool = False
    auto_remove: bool = False
    no_recurse: bool = False
    location: str | None = None
    timeout: float | None = None
    raw: bool = False

    def check(self) -> None:
        if self.wait and self.keep:
            raise JobArgumentError("wait and keep cannot be combined (as in Receive-Job)")
        if self.auto_remove and not self.wait:
            raise JobArgumentError("auto_remove needs wait=True")
        check_timeout(self.timeout)
        if self.timeout is not None and not self.wait:
            raise JobArgumentError("timeout applies only with wait=True")


def receive(
    jobs: list[Job], options: ReceiveOptions, handed_over: Callable[[Job], None], host: Host
) -> list[Any]:
    """Hand over the jobs' unreceived records: the output values (or, ``raw``, the
    records), the rest replayed here in order (displays through ``host``).
    ``handed_over`` hears of each job that gave something."""
    location = options.location
    if location is not None:
        known = [job.location for job in walk(jobs) if not job.child_jobs]
        if location not in known:
            where = ", ".join(dict.fromkeys(known)) or "none"
            raise JobNotFoundError(f"no job runs at location {location!r} (locations: {where})")
    received: list[Any] = []

    def hand_over() -> None:
        for job in jobs:
            if options.raw:
                taken = job.take_records(options.keep, options.no_recurse, location)
                received.extend(taken)
                gave = bool(taken)
            else:  # replayed as read: spilled text in bounded pieces
                records = job.stream_records(options.keep, options.no_recurse, location)
                stream = _NotingStream(records)
                received.extend(replay(stream, host))
                gave = stream.gave
            if gave:
                handed_over(job)

    if not options.wait:
        hand_over()
        return received
    deadline = None if options.timeout is None else time.monotonic() + options.timeout
    while True:
        # A Blocked job waits for the user: streaming on would wait forever.
        settled = all(job.finished or job.state is JobState.BLOCKED for job in jobs)
        hand_over()
        remaining = None if deadline is None else deadline - time.monotonic()
        if settled or (remaining is not None and remaining <= 0):
            return received
        wait_jobs(jobs, timeout=min(STREAM_INTERVAL, remaining or STREAM_INTERVAL))


class _NotingStream(Iterator[Record]):
    """A stream of records that notes whether it gave any (a streaming receive asked
    each job ``has_more_data`` first: a second walk of a fan-out's thousand children,
    twenty times a second)."""

    def __init__(self, records: Iterator[Record]) -> None:
        self._records = records
        self.gave = False

    def __next__(self) -> Record:
        record = next(self._records)
        self.gave = True
        return record
