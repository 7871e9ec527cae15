"""Text tables of jobs, in PowerShell's Get-Job layout: deterministic (no times) unless
asked for the long view, which adds Elapsed, CPU and Memory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .job import Job

COLUMNS = ("Id", "Name", "JobType", "State", "HasMoreData", "Location", "Command")
LONG_COLUMNS = (*COLUMNS[:-1], "Elapsed", "CPU", "Memory", "Command")
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


def elapsed_text(job: Job) -> str:
    """``1.5 s`` since the job began (to its end once finished); "" before it began."""
    if job.begin_time is None:
        return ""
    end = job.end_time or type(job.begin_time).now()
    return f"{(end - job.begin_time).total_seconds():.1f} s"


def cpu_text(job: Job) -> str:
    return "" if job.cpu_time is None else f"{job.cpu_time:.2f} s"


def memory_text(job: Job) -> str:
    """Peak memory in MB (10^6 bytes, as ``ps`` and task managers show it)."""
    return "" if job.peak_memory is None else f"{job.peak_memory / 1e6:.1f} MB"


def long_row(job: Job) -> tuple[str, ...]:
    row = job_row(job)
    return (*row[:-1], elapsed_text(job), cpu_text(job), memory_text(job), row[-1])


def text_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns under a dashed rule, as PowerShell formats tables."""
    table = [tuple(columns), tuple("-" * len(c) for c in columns), *map(tuple, rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


def job_table(jobs: Sequence[Job], long: bool = False) -> str:
    if long:
        return text_table(LONG_COLUMNS, [long_row(job) for job in jobs])
    return text_table(COLUMNS, [job_row(job) for job in jobs])


class JobList(list):
    """A list of jobs that shows itself as a Get-Job table (what the magics return).
    ``query`` gives the jobs again, for a live table that follows them."""

    def __init__(self, jobs: Any = (), query: Any = None, long: bool = False) -> None:
        super().__init__(jobs)
        self.query = query
        self.long = long  # with Elapsed, CPU and Memory (%jobs -l)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(job_table(self, self.long) if self else "No jobs.")
