"""What a job's own code calls: ``write_output``, ``write_progress``, ``current_job``,
``check_stop``, ``start_thread``.

A small module on its own, below the manager: a function a notebook sends to a process or
an engine names these by their module when it is pickled, so the other side imports this
and what capture needs, not the manager, traitlets or IPython.
"""

from __future__ import annotations

from typing import Any

from ..model.errors import JobArgumentError, JobStopped
from ..model.records import Progress, Stream
from . import host
from .capture import start_thread
from .current import current_job

__all__ = ["check_stop", "current_job", "start_thread", "write_output", "write_progress"]


def write_output(value: Any) -> None:
    """Write ``value`` to the current job's output stream (Write-Output). Outside a job
    the value is shown, so code written for jobs can be tried in a cell."""
    job = current_job()
    if job is not None:
        job.write_output(value)
    else:
        host.default().show_value(value)


def write_progress(percent: float | None = None, status: str = "", activity: str = "") -> None:
    """Report progress (Write-Progress): shown by the job's widget, kept as a record.
    Does nothing outside a job."""
    if percent is not None and (
        isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100
    ):
        raise JobArgumentError(f"percent must be between 0 and 100, not {percent!r}")
    job = current_job()
    if job is None:
        return
    job.progress = Progress(percent, str(status), str(activity))
    job.records.add(Stream.PROGRESS, job.progress)


def check_stop() -> None:
    """Raise ``JobStopped`` if a stop of the current job was asked for. A job that calls
    this is given ``stop_grace`` seconds to stop here before a forced stop."""
    job = current_job()
    if job is None:
        return
    job.checks_stop = True
    if job.stop_requested:
        raise JobStopped(f"{job.name} was asked to stop")
