"""Notifications from the kernel (DESIGN §13): a job tells a user who walked away.

At start, ``plan`` turns ``notify=`` and the manager's settings into the URLs and events
of one job, checked (a URL Apprise cannot read, or no Apprise, refuses the start: no job
is made). ``watch`` then follows the job the user started (a fan-out's parent, never its
children): each state change that is one of its events, after it ran ``notify_after``
seconds, becomes one notification, handed to the manager's ``Deliverer`` thread, so
neither the job's thread nor the kernel's waits for the service. A detached job is not
followed here: its supervisor sends its notifications, kernel or not
(``backends/detached_notify.py``), and the kernel never sends them a second time.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..execution.delivery import Deliverer, check_urls
from ..model.errors import NotifyError
from ..model.notification import JobFacts, compose, joined_output
from ..model.state import JobState

if TYPE_CHECKING:
    from ..model.job import Job
    from .manager import JobManager


@dataclass(frozen=True)
class NotifyPlan:
    """Where and when one job notifies. Its URLs carry tokens: never shown."""

    urls: tuple[str, ...]
    events: tuple[str, ...]
    after: float

    def __repr__(self) -> str:  # no URL in a repr, a log or a traceback's locals
        return (
            f"NotifyPlan({len(self.urls)} URL(s), events={list(self.events)}, after={self.after:g})"
        )


def plan(manager: JobManager, notify: Any) -> NotifyPlan | None:
    """What ``notify=`` asks: None or False (unless ``notify_all``) for nothing, True for
    ``notify_urls``, a URL or a list of them."""
    if notify is None:
        notify = bool(manager.notify_all)
    if notify is False:
        return None
    if notify is True:
        if not manager.notify_urls:
            raise NotifyError(
                "notify=True (or --notify, or notify_all) needs c.JobManager.notify_urls: "
                "set it, or name a URL"
            )
        urls: Iterable[Any] = manager.notify_urls
    elif isinstance(notify, str):
        urls = [notify]
    elif isinstance(notify, (list, tuple)):
        urls = notify
    else:
        raise NotifyError(
            f"notify= is a URL, a list of URLs, True or False, not {type(notify).__name__}"
        )
    return NotifyPlan(tuple(check_urls(urls)), tuple(manager.notify_events), manager.notify_after)


class Notifier:
    """The kernel's notifications for one manager."""

    def __init__(self) -> None:
        self.deliverer = Deliverer()
        self.host = socket.gethostname()

    def watch(self, job: Job, plan: NotifyPlan, outlives_kernel: bool) -> None:
        """Notify ``job``'s events from now on (before it is launched: none is missed)."""
        if outlives_kernel:
            return  # its supervisor notifies

        def changed(job: Job, previous: JobState, new: JobState) -> None:
            if new.value in plan.events:
                self._notify(job, new, plan)

        job.add_state_callback(changed)

    def _notify(self, job: Job, state: JobState, plan: NotifyPlan) -> None:
        seconds = _seconds(job)
        if plan.after and (seconds is None or seconds < plan.after):
            return
        from ..backends.followed import scope

        members = job.child_jobs or [job]
        failed = next((m for m in [job, *members] if m.reason is not None), None)
        reason = None if failed is None else f"{type(failed.reason).__name__}: {failed.reason}"
        facts = JobFacts(
            id=job.id,
            name=job.name,
            state=state,
            seconds=seconds,
            reason=reason,
            prompt=job.prompt,
            output=joined_output(run for m in members for run in m.records.tail_runs()),
            host=self.host,
            scope=scope(),
        )
        self.deliverer.post(list(plan.urls), compose(facts))


def _seconds(job: Job) -> float | None:
    if job.begin_time is None:
        return None
    end = job.end_time or type(job.begin_time).now()
    return (end - job.begin_time).total_seconds()
