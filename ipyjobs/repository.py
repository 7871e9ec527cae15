"""The job repository: one id counter, the registered jobs, and how refs find them."""

from __future__ import annotations

import fnmatch
import itertools
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .errors import JobArgumentError, JobNotFoundError
from .job import Job, walk
from .state import JobState

_WILDCARDS = frozenset("*?[")


def is_pattern(text: str) -> bool:
    return any(ch in _WILDCARDS for ch in text)


def name_matches(pattern: str, name: str) -> bool:
    """Shell wildcards, case-insensitive, as PowerShell matches job names."""
    return fnmatch.fnmatchcase(name.lower(), pattern.lower())


class JobRepository:
    """Every job of a session, parents and children, in id order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._jobs: dict[int, Job] = {}

    def reserve_ids(self, count: int) -> list[int]:
        """``count`` consecutive ids: a parent's, then its children's."""
        with self._lock:
            return [next(self._ids) for _ in range(count)]

    def add(self, parent: Job) -> None:
        with self._lock:
            self._jobs[parent.id] = parent
            for child in parent.child_jobs:
                self._jobs[child.id] = child

    def discard(self, parent: Job) -> None:
        with self._lock:
            for job in walk([parent]):
                self._jobs.pop(job.id, None)

    def all(self, include_children: bool = False) -> list[Job]:
        with self._lock:
            jobs = list(self._jobs.values())
        return jobs if include_children else [j for j in jobs if j.parent is None]

    def resolve(self, refs: Iterable[Any], include_children: bool = False) -> list[Job]:
        """The jobs ``refs`` name, each once, in the order named.

        A ref is a Job, an int id, a name, a name pattern, or a list of those. An id, exact
        name or registered Job that matches nothing raises ``JobNotFoundError``; a pattern
        matching nothing just adds nothing (as Get-Job -Name does).
        """
        found: dict[int, Job] = {}
        everything = self.all(include_children=True)
        for ref in _flatten(refs):
            for job in self._match(ref, everything, include_children):
                found.setdefault(job.id, job)
        return list(found.values())

    def _match(self, ref: Any, everything: list[Job], include_children: bool) -> list[Job]:
        if isinstance(ref, Job):
            if ref.removed or ref.id not in self._jobs:
                raise JobNotFoundError(f"{ref.name} (id {ref.id}) has been removed")
            return [ref]
        if isinstance(ref, bool) or not isinstance(ref, int | str):
            raise JobArgumentError(f"a job ref is a Job, an id or a name, not {ref!r}")
        if isinstance(ref, int) or ref.isdigit():
            job = self._jobs.get(int(ref))
            if job is None:
                raise JobNotFoundError(f"no job with id {ref}")
            return [job]
        if is_pattern(ref):
            pool = everything if include_children else [j for j in everything if not j.parent]
            return [job for job in pool if name_matches(ref, job.name)]
        exact = [job for job in everything if job.name.lower() == ref.lower()]
        if not exact:
            raise JobNotFoundError(f"no job named {ref!r}")
        return exact


def _flatten(refs: Iterable[Any]) -> Iterable[Any]:
    for ref in refs:
        if isinstance(ref, list | tuple | set | frozenset):
            yield from _flatten(ref)
        else:
            yield ref


def filter_jobs(
    jobs: Iterable[Job],
    *,
    name: str | None = None,
    state: str | JobState | None = None,
    has_more_data: bool | None = None,
    command: str | None = None,
    before: datetime | None = None,
    after: datetime | None = None,
    newest: int | None = None,
) -> list[Job]:
    """Get-Job's filters: each one given narrows the list; ``newest`` keeps the last N
    (by id) and, as Get-Job does, needs no other filter."""
    wanted_state = JobState.parse(state) if state is not None else None
    if newest is not None and (
        isinstance(newest, bool) or not isinstance(newest, int) or newest < 0
    ):
        raise JobArgumentError(f"newest must be a whole number >= 0, not {newest!r}")
    for label, moment in (("before", before), ("after", after)):
        if moment is not None and not isinstance(moment, datetime):
            raise JobArgumentError(f"{label} must be a datetime, not {moment!r}")
    result = []
    for job in jobs:
        if name is not None and not name_matches(name, job.name):
            continue
        if wanted_state is not None and job.state is not wanted_state:
            continue
        if has_more_data is not None and job.has_more_data != has_more_data:
            continue
        if command is not None and not name_matches(command, job.command):
            continue
        if before is not None and (job.end_time is None or job.end_time >= before):
            continue
        if after is not None and (job.end_time is None or job.end_time <= after):
            continue
        result.append(job)
    if newest is not None:
        result = sorted(result, key=lambda j: j.id)[-newest:] if newest else []
    return result
