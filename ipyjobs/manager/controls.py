"""Stop-Job, Suspend-Job and Resume-Job as the manager does them: each reaches the
children that do the work, and none touches a detached job that another live kernel
holds (DESIGN §8: that kernel alone may change it)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from ..model.family import walk
from ..model.state import NOT_STARTED, STOPPED, STOPPING

if TYPE_CHECKING:
    from ..model.controls import Runner
    from ..model.job import Job
    from .fanout import FanOut


def refuse_held_elsewhere(jobs: Iterable[Job], verb: str) -> None:
    """A JobStateError, before anything changes, if another kernel holds one of ``jobs``
    (a detached job this one only lists)."""
    for child in walk(jobs):
        refuse = getattr(child.runner, "refuse_if_held_elsewhere", None)
        if refuse is not None:
            refuse(child, verb)


def request_stop(job: Job, fan_out: FanOut | None) -> None:
    """Ask ``job`` to stop and return at once; ``fan_out``, the one launching its
    children, takes no more items."""
    refuse_held_elsewhere([job], "stop")
    if fan_out is not None:
        fan_out.stop()  # no more items are taken; those waiting are Stopped below
    batches: dict[Runner, list[Job]] = {}  # for a backend that stops many at once
    for child in walk([job]):
        if child.child_jobs:
            continue
        child.stop_requested = True
        # A backend that cannot tell queued from just started (an engine) confirms
        # the stop itself; for the others a NotStarted child is Stopped at once.
        confirms = getattr(child.runner, "confirms_stops", False)
        if not confirms and child.set_state(STOPPED, only_from=[NOT_STARTED]):
            # Never started as far as the job knows, but a process may be starting.
            if child.runner is not None:
                child.runner.stop(child)
            continue
        if child.set_state(STOPPING) and child.runner is not None:
            if hasattr(child.runner, "stop_many"):
                batches.setdefault(child.runner, []).append(child)
            else:
                child.runner.stop(child)
    for runner, children in batches.items():
        runner.stop_many(children)  # type: ignore[attr-defined]


def wait_finished(jobs: Sequence[Job], seconds: float) -> None:
    """Wait until every one of ``jobs`` finished, ``seconds`` at most in all."""
    deadline = time.monotonic() + seconds
    for job in jobs:
        job.wait_until_finished(max(0.0, deadline - time.monotonic()))


def for_working_children(jobs: Iterable[Job], action: Callable[[Runner, Job], None]) -> None:
    """``action(runner, child)`` on each unfinished child that does work, of each of
    ``jobs``, with the backend that runs it."""
    for child in walk(jobs):
        if not child.child_jobs and not child.finished and child.runner is not None:
            action(child.runner, child)
