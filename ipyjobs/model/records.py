"""What a job produces: its records, one per thing it wrote, in the streams of DESIGN §2.

A ``Record`` is frozen and made often (every chunk of text a job writes becomes one), so
``make_record`` makes it without the dataclass's per-field cost. Where records are kept
until received: ``record_buffer``; how a thread job's ``print`` reaches them:
``stdout_capture``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .job import Job


class Stream(StrEnum):
    """The streams a job records, after PowerShell's output, error, warning and progress."""

    OUTPUT = "output"
    STDOUT = "stdout"
    STDERR = "stderr"
    DISPLAY = "display"
    WARNING = "warning"
    ERROR = "error"
    PROGRESS = "progress"


TEXT_STREAMS = frozenset({Stream.STDOUT, Stream.STDERR})
#: How text is encoded where it leaves Python's str (a job's chunks, the spill file):
#: Python text may hold lone surrogates.
TEXT_ENCODING = ("utf-8", "surrogatepass")


@dataclass(frozen=True, slots=True)
class Record:
    """One thing a job produced.

    ``value`` is the text for stdout/stderr, the Python value for output, the MIME bundle
    ``{"data": ..., "metadata": ...}`` for display, the exception for error, the warning
    instance for warning and a ``Progress`` for progress. ``text`` is the formatted form
    of warnings and errors (the traceback), as they are replayed.
    """

    stream: Stream
    value: Any
    job: Job | None
    location: str
    time: datetime
    text: str | None = None

    def __repr__(self) -> str:
        job = self.job.name if self.job is not None else None
        return f"Record({self.stream.value}, {self.value!r}, job={job!r})"


def _record_maker() -> Callable[..., Record]:
    """``Record(...)`` at a third of its cost, for the records every job adds: a frozen
    dataclass sets each field through ``object.__setattr__``; this sets the slots
    directly, once, as the dataclass would (the record is as frozen afterwards)."""
    new = object.__new__
    fields = ("stream", "value", "job", "location", "time", "text")
    slots = [Record.__dict__[name].__set__ for name in fields]
    set_stream, set_value, set_job, set_location, set_time, set_text = slots

    def make(
        stream: Stream, value: Any, job: Job | None, location: str, time: datetime, text: Any
    ) -> Record:
        record = new(Record)
        set_stream(record, stream)
        set_value(record, value)
        set_job(record, job)
        set_location(record, location)
        set_time(record, time)
        set_text(record, text)
        return record

    return make


make_record = _record_maker()


@dataclass(frozen=True, slots=True)
class Progress:
    """A ``write_progress`` report (PowerShell's ProgressRecord, reduced)."""

    percent: float | None
    status: str = ""
    activity: str = ""


def require_text(text: Any) -> None:
    """Refuse what is not ``str`` as a text stream's ``write`` does (TypeError)."""
    if not isinstance(text, str):
        raise TypeError(f"write() argument must be str, not {type(text).__name__}")


def checked_write(append: Callable[[str], Any], text: str) -> int:
    """A text stream's ``write``: append ``text`` if it is text, and return the count."""
    require_text(text)
    append(text)
    return len(text)
