"""The job repository: one id counter, the registered jobs, and how refs find them."""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from .errors import JobArgumentError, JobNotFoundError
from .family import walk
from .job import Job
from .state import JobState

_WILDCARDS = frozenset("*?[")


def is_pattern(text: str) -> bool:
    return any(ch in _WILDCARDS for ch in text)


def name_matches(pattern: str, name: str) -> bool:
    """Shell wildcards, case-insensitive, as PowerShell matches job names."""
    return fnmatch.fnmatchcase(name.lower(), pattern.lower())


class JobRepository:
    """Every job of a session, parents and children, in id order, indexed so that a ref
    by id, exact name or Job is found in constant time however many jobs are held (only
    a pattern looks at every job)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_id = 1
        self._jobs: dict[int, Job] = {}  # every job, by id (dicts keep insertion order)
        self._parents: dict[int, Job] = {}
        # Lower-cased name: its job, or its jobs in id order when several share it (most
        # names are unique, and a list for each would double what the index holds).
        self._by_name: dict[str, Job | list[Job]] = {}

    def reserve_ids(self, count: int) -> list[int]:
        """``count`` consecutive ids: a parent's, then its children's."""
        with self._lock:
            first, self._next_id = self._next_id, self._next_id + count
        return list(range(first, first + count))

    def continue_after(self, highest: int) -> None:
        """Make the next id come after ``highest`` (the job store's highest, say)."""
        with self._lock:
            self._next_id = max(self._next_id, highest + 1)

    def add(self, parent: Job) -> None:
        with self._lock:
            self._parents[parent.id] = parent
            self._index(parent)

    def add_child(self, child: Job) -> None:
        """A child made after its parent was added (a lazy fan-out's)."""
        with self._lock:
            self._index(child)

    def _index(self, job: Job) -> None:
        """Index ``job`` and its children (walked here: a list of them costs each start)."""
        self._jobs[job.id] = job
        key = job.name.lower()
        named = self._by_name.get(key)
        if named is None:
            self._by_name[key] = job
        elif isinstance(named, list):
            named.append(job)
        else:
            self._by_name[key] = [named, job]
        for child in job.child_jobs:
            self._index(child)

    def discard(self, parent: Job) -> None:
        with self._lock:
            self._parents.pop(parent.id, None)
            for job in walk([parent]):
                if self._jobs.pop(job.id, None) is None:
                    continue
                key = job.name.lower()
                named = self._by_name[key]
                if isinstance(named, list):
                    named.remove(job)
                    if len(named) == 1:
                        self._by_name[key] = named[0]
                else:
                    del self._by_name[key]

    def all(self, include_children: bool = False) -> list[Job]:
        with self._lock:
            return list((self._jobs if include_children else self._parents).values())

    def resolve(self, refs: Iterable[Any], include_children: bool = False) -> list[Job]:
        """The jobs ``refs`` name, each once, in the order named.

        A ref is a Job, an int id, a name, a name pattern, or a list of those. An id, exact
        name or registered Job that matches nothing raises ``JobNotFoundError``; a pattern
        matching nothing just adds nothing (as Get-Job -Name does).
        """
        found: dict[int, Job] = {}
        for ref in _flatten(refs):
            for job in self._match(ref, include_children):
                found.setdefault(job.id, job)
        return list(found.values())

    def _match(self, ref: Any, include_children: bool) -> list[Job]:
        if isinstance(ref, Job):
            if ref.removed or self._jobs.get(ref.id) is not ref:
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
            pool = self.all(include_children)
            return [job for job in pool if name_matches(ref, job.name)]
        with self._lock:
            named = self._by_name.get(ref.lower())
        exact = [] if named is None else list(named) if isinstance(named, list) else [named]
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
    tests: list[Callable[[Job], bool]] = []  # only the filters given, each checked once
    if name is not None:
        tests.append(lambda job: name_matches(name, job.name))
    if has_more_data is not None:
        tests.append(lambda job: job.has_more_data == has_more_data)
    if command is not None:
        tests.append(lambda job: name_matches(command, job.command))
    if before is not None:
        tests.append(lambda job: job.end_time is not None and job.end_time < before)
    if after is not None:
        tests.append(lambda job: job.end_time is not None and job.end_time > after)
    if wanted_state is not None:  # the common filter: a comprehension of its own
        jobs = [job for job in jobs if job._state is wanted_state]  # no property call
    result = [job for job in jobs if all(test(job) for test in tests)] if tests else list(jobs)
    if newest is not None:
        result = sorted(result, key=lambda j: j.id)[-newest:] if newest else []
    return result
