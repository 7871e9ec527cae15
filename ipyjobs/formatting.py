"""Deterministic text tables of jobs, in PowerShell's Get-Job layout (no times)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .job import Job

COLUMNS = ("Id", "Name", "JobType", "State", "HasMoreData", "Location", "Command")
COMMAND_WIDTH = 40


def one_line(command: str, width: int = COMMAND_WIDTH) -> str:
    """The command on one line, cut to ``width`` characters with an ellipsis."""
    lines = [line.strip() for line in command.strip().splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if len(lines) > 1:
        text += " …"
    return text if len(text) <= width else text[: width - 1] + "…"


def job_row(job: Job) -> tuple[str, ...]:
    return (
        str(job.id),
        job.name,
        job.job_type,
        job.state.value,
        str(job.has_more_data),
        job.location,
        one_line(job.command),
    )


def text_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns under a dashed rule, as PowerShell formats tables."""
    table = [tuple(columns), tuple("-" * len(c) for c in columns), *map(tuple, rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


def job_table(jobs: Sequence[Job]) -> str:
    return text_table(COLUMNS, [job_row(job) for job in jobs])


class JobList(list):
    """A list of jobs that shows itself as a Get-Job table (what the magics return).
    ``query`` gives the jobs again, for a live table that follows them."""

    def __init__(self, jobs: Any = (), query: Any = None) -> None:
        super().__init__(jobs)
        self.query = query

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(job_table(self) if self else "No jobs.")
