"""Which job's code runs in this context: the one ``ContextVar`` that ``capture`` sets
around a job's code (``capture.job_context``) and that everything routed reads: its
writes, ``input()``, ``display()``, warnings, ``time.sleep`` and ``write_output``."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..model.job import Job

#: Inside a job: its records' inbox append, the inbox list, the records (collected by
#: the writer itself once the list holds ``capture.BACKLOG`` items) and the job; None
#: outside a job.
inbox: contextvars.ContextVar[tuple[Callable[[Any], None], list[Any], Any, Any] | None] = (
    contextvars.ContextVar("ipyjobs_inbox", default=None)
)


def current_job() -> Job | None:
    """The (child) job whose code is running here, or None outside a job."""
    entry = inbox.get()
    return None if entry is None else entry[3]
