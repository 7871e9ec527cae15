"""The records a job keeps until they are received: in order, received once unless kept,
bounded in memory (DESIGN §2).

The write path is the hot path of every ``print`` in a job, so a job's writes go lock-free
into ``RecordBuffer.pending`` (``list.append`` is atomic under the GIL): a plain ``str`` is
stdout text, ``bytes`` is stdout text as ``StdoutCapture`` encoded it, ``(Stream.STDERR,
str)`` is stderr text, a ``Record`` is anything else. A thread job's ``print`` runs in C
(see ``StdoutCapture``); whatever else a job records first moves the text ``print`` left
there into the inbox, so the order of everything the job's thread wrote is kept.
``collect()`` later turns that list into records under the lock, merging consecutive text
of one stream into one record (as Jupyter merges stream messages) and moving text past
the memory bound into a spill file, so a job printing gigabytes keeps memory flat and
still hands over every character.
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .errors import StorageWarning
from .records import TEXT_ENCODING, TEXT_STREAMS, Record, Stream, checked_write, make_record
from .spill_file import SpillFile
from .stdout_capture import StdoutCapture

if TYPE_CHECKING:
    from .job import Job

#: The records a live view counts for the user, as it shows only text.
NOTED = frozenset({Stream.WARNING, Stream.DISPLAY, Stream.ERROR})


@dataclass(slots=True)
class _TextRun:
    """Consecutive in-memory text of one stream, joined when it is received."""

    stream: Stream
    chunks: list[str]
    time: datetime


@dataclass(slots=True)
class _SpilledText:
    """Consecutive text of one stream that lives in the spill file."""

    stream: Stream
    offset: int
    nbytes: int
    time: datetime


_Entry = Record | _TextRun | _SpilledText
#: Bytes of spilled text read at a time when records are streamed out (``take_stream``),
#: so a receive of a gigabyte holds a piece of it, not all of it three times over.
PIECE = 1 << 20


class RecordBuffer:
    """The ordered, unreceived records of one job."""

    # Slots: thousands of finished jobs are held, each with a buffer (an instance dict
    # and a deque cost more than everything else a finished job keeps).
    __slots__ = (
        "__weakref__",
        "_entries",
        "_lock",
        "_spill",
        "_spill_failed",
        "_stdout",
        "_tail",
        "_tail_chars",
        "_text_in_memory",
        "job",
        "memory_limit",
        "noted",
        "on_arrival",
        "on_take",
        "pending",
        "version",
    )
    #: How many of the last characters of text ``tail`` keeps.
    tail_limit = 4000
    # The last characters of text the job wrote, received or not (for live views):
    # (stream, text) runs, so stderr shows as stderr. Empty (a shared tuple) until
    # there is text.
    _tail: list[tuple[Stream, str]] | tuple[()]

    @property
    def tail(self) -> str:
        """The last characters of text the job wrote (stdout and stderr), received or not."""
        return "".join(text for _, text in self._tail)

    def tail_runs(self) -> list[tuple[Stream, str]]:
        """``tail`` as (stream, text) runs, oldest first."""
        return list(self._tail)

    def _add_to_tail(self, stream: Stream, text: str) -> None:
        limit = self.tail_limit
        if len(text) >= limit:
            self._tail, self._tail_chars = [(stream, text[-limit:])], limit
            return
        runs = self._tail if isinstance(self._tail, list) else []
        if runs and runs[-1][0] is stream:
            runs[-1] = (stream, runs[-1][1] + text)
        else:
            runs.append((stream, text))
        # Counted as it goes: stdout and stderr taking turns make thousands of runs.
        excess = self._tail_chars + len(text) - limit
        self._tail_chars = min(self._tail_chars + len(text), limit)
        while excess > 0:
            first_stream, first = runs[0]
            if len(first) <= excess:
                del runs[0]
                excess -= len(first)
            else:
                runs[0] = (first_stream, first[excess:])
                excess = 0
        self._tail = runs

    def __init__(self, job: Job, memory_limit: int = 1 << 20) -> None:
        self.job = job
        self.memory_limit = memory_limit
        #: Lock-free inbox written by the job (see the module docstring).
        self.pending: list[Any] = []
        self._lock = threading.Lock()
        self._entries: list[_Entry] = []
        self._text_in_memory = 0
        self._spill: SpillFile | None = None
        #: Set when the spill file could not be written (a full disk): text then stays
        #: in memory past the bound, said once in a warning (DESIGN §14).
        self._spill_failed = False
        self._tail = ()
        self._tail_chars = 0  # the length of ``tail``
        #: How many warnings, displays and errors the job recorded, received or not (for
        #: live views, which show only text); None until there is one.
        self.noted: dict[Stream, int] | None = None
        #: Called (outside the buffer's lock) when records arrived: a live view of a
        #: finished job still shows what arrives after its final state (DESIGN §14).
        self.on_arrival: Callable[[], None] | None = None
        #: Called (under the buffer's lock) when a receive removes the records, so a
        #: detached job's store can mark how far it was received.
        self.on_take: Callable[[], None] | None = None
        #: Grows whenever records arrive or are received: a cheap "anything new?" check.
        self.version = 0
        #: While a thread job's code runs: its stdout (see ``StdoutCapture``).
        self._stdout: StdoutCapture | None = None

    @property
    def inbox(self) -> Any:
        """What the job's other writes call (stderr, a prompt): the inbox's append, after
        the text ``print`` gathered (made when a job starts, not kept: a held job is
        smaller without it)."""
        return self.append_in_order

    def append_in_order(self, item: Any) -> None:
        self.flush_stdout()  # the text printed before it comes first
        self.pending.append(item)

    def start_stdout(self) -> Callable[[str], int]:
        """What ``print`` calls in the job from its first print on (``capture`` asks on
        that print: a job that never prints makes no wrapper)."""
        with self._lock:
            if self._stdout is None:
                self._stdout = StdoutCapture(self)
            return self._stdout.wrapper.write

    def flush_stdout(self) -> None:
        """Hand what ``print`` gathered to the inbox (``sys.stdout.flush()`` in the job)."""
        stdout = self._stdout
        if stdout is not None:
            stdout.drain()

    def end_stdout(self) -> None:
        stdout = self._stdout
        if stdout is not None:
            stdout.end()
            self._stdout = None

    def write_text(self, text: str) -> int:
        """A write to stdout once the job's code is over (as ``write`` would check it)."""
        return checked_write(self.pending.append, text)

    # -- writing ------------------------------------------------------------------------
    def add(self, stream: Stream, value: Any, text: str | None = None) -> None:
        """Append a non-text record (output, display, warning, error, progress)."""
        job = self.job
        self.append_in_order(make_record(stream, value, job, job.location, datetime.now(), text))

    def has_data(self) -> bool:
        """True while unreceived records exist."""
        self.flush_stdout()
        return bool(self.pending) or bool(self._entries)

    def collect(self) -> None:
        """Move what the job wrote since the last call into ordered records."""
        self.flush_stdout()
        self.collect_inbox()

    def collect_inbox(self) -> None:
        """``collect``, leaving what ``print`` gathers where it is (what the printing
        thread calls as it hands a chunk over)."""
        if not self.pending:
            return
        with self._lock:
            arrived = self._take_inbox()
        if arrived and self.on_arrival is not None:
            self.on_arrival()

    def _take_inbox(self) -> bool:
        """Under the lock: the inbox into records; False if another collector took it."""
        pending = self.pending
        count = len(pending)  # another collector may have run meanwhile
        items = pending[:count]
        del pending[:count]  # writes that landed after `count` stay for next time
        if not items:
            return False
        self.version += 1
        if items[0].__class__ is bytes:  # what print gathered: text, most often alone
            try:
                text = b"".join(items).decode(*TEXT_ENCODING)
            except TypeError:
                self._collect_mixed(items, datetime.now())
            else:
                self._add_text(Stream.STDOUT, text, datetime.now())
            return True
        if count == 1 and items[0].__class__ is Record:  # a function's one result
            self._entries.append(items[0])
            if items[0].stream in NOTED:
                self._note(items[0].stream)
            return True
        now = datetime.now()
        if items[0].__class__ is not str:  # a record first: not only text
            self._collect_mixed(items, now)
            return True
        try:
            text = "".join(items)  # the common case: nothing but stdout text
        except TypeError:
            self._collect_mixed(items, now)
        else:
            self._add_text(Stream.STDOUT, text, now)
        return True

    def _collect_mixed(self, items: list[Any], now: datetime) -> None:
        # Group consecutive text of one stream; records stay as they are.
        segments: list[list[Any]] = []  # [stream, chunks] or [None, record]
        for item in items:
            if isinstance(item, str):
                stream, text = Stream.STDOUT, item
            elif isinstance(item, bytes):
                stream, text = Stream.STDOUT, item.decode(*TEXT_ENCODING)
            elif isinstance(item, tuple):
                stream, text = item
            else:
                segments.append([None, item])
                continue
            if segments and segments[-1][0] is stream:
                segments[-1][1].append(text)
            else:
                segments.append([stream, [text]])
        # Text was written before the record that follows it: give it that record's
        # time (or now), so record times never go backwards.
        moment = now
        for segment in reversed(segments):
            if segment[0] is None:
                moment = segment[1].time
            else:
                segment.append(moment)
        for segment in segments:
            if segment[0] is None:
                self._entries.append(segment[1])
                if segment[1].stream in NOTED:
                    self._note(segment[1].stream)
            else:
                self._add_text(segment[0], "".join(segment[1]), segment[2])

    def _note(self, stream: Stream) -> None:
        if self.noted is None:
            self.noted = {}
        self.noted[stream] = self.noted.get(stream, 0) + 1

    def _add_text(self, stream: Stream, text: str, now: datetime) -> None:
        if not text:
            return
        self._add_to_tail(stream, text)
        tail = self._entries[-1] if self._entries else None
        if self._text_in_memory + len(text) > self.memory_limit and self._spill_text(
            stream, text, tail, now
        ):
            return
        if isinstance(tail, _TextRun) and tail.stream is stream:
            tail.chunks.append(text)
            self._text_in_memory += len(text)
        else:
            self._entries.append(_TextRun(stream, [text], now))
            self._text_in_memory += len(text)

    def _spill_text(self, stream: Stream, text: str, tail: _Entry | None, now: datetime) -> bool:
        """Move ``text`` to the spill file; False if it cannot be written there (then it
        stays in memory: nothing is lost, and the first failure is said once)."""
        if self._spill_failed:
            return False
        data = text.encode(*TEXT_ENCODING)
        try:
            if self._spill is None:
                self._spill = SpillFile(self, self.job.name)
            start = self._spill.append(data)
        except OSError as error:
            self._spill_failed = True
            message = (
                f"{self.job.name}'s output past {self.memory_limit} characters cannot be "
                f"spilled to disk ({error}): it is kept in memory instead"
            )
            record = make_record(
                Stream.WARNING,
                StorageWarning(message),
                self.job,
                self.job.location,
                now,
                f"StorageWarning: {message}\n",
            )
            self.pending.append(record)
            return False
        if (
            isinstance(tail, _SpilledText)
            and tail.stream is stream
            and tail.offset + tail.nbytes == start
        ):
            tail.nbytes += len(data)
        else:
            self._entries.append(_SpilledText(stream, start, len(data), now))
        return True

    @property
    def spill_folder(self) -> str | None:
        """The job's temporary folder, once text has spilled to disk."""
        return None if self._spill is None else self._spill.folder

    # -- receiving ----------------------------------------------------------------------
    def take(self, keep: bool = False) -> list[Record]:
        """The unreceived records, oldest first; removed from the buffer unless ``keep``.
        Adjacent text of one stream comes as one record, wherever it was kept."""
        self.collect()
        with self._lock:
            records: list[Record] = []
            for entry in self._entries:
                record = self._as_record(entry)
                last = records[-1] if records else None
                if (
                    last is not None
                    and record.stream in TEXT_STREAMS
                    and (last.stream is record.stream)
                ):
                    record = Record(
                        last.stream,
                        last.value + record.value,
                        self.job,
                        last.location,
                        last.time,
                    )
                    records[-1] = record
                else:
                    records.append(record)
            if not keep:
                self._forget_taken()
                if self._spill is not None:
                    self._spill.clear()
        return records

    def take_stream(self, keep: bool = False) -> Iterator[Record]:
        """See ``_take_stream``; with nothing spilled the records are simply listed (a
        generator per child cost a 1 000-item fan-out's receive a third of its time)."""
        self.collect()
        if not self._entries and self._spill is None:
            return iter(())  # nothing new: no lock (a streaming receive asks each child)
        if self._spill is None:
            with self._lock:
                if self._spill is None:
                    records = [self._as_record(entry) for entry in self._entries]
                    if not keep:
                        self._forget_taken()
                    return iter(records)
        return self._take_stream(keep)

    def _take_stream(self, keep: bool = False) -> Iterator[Record]:
        """The unreceived records, oldest first, as ``take`` gives them, but with spilled
        text read in pieces of at most ``PIECE`` bytes as they are consumed: what a
        replaying receive uses, so memory stays bounded however much text spilled.
        Unless ``keep``, the records are removed at once (new text goes to a new spill
        file while these are read). ``take_stream`` collected just before."""
        with self._lock:
            entries = list(self._entries)
            spill, handed_over = self._spill, False
            if not keep:
                self._forget_taken()
                if spill is not None:  # the next spill starts a file of its own
                    self._spill, handed_over = None, True
        try:
            for entry in entries:
                if isinstance(entry, _SpilledText):
                    assert spill is not None
                    yield from self._pieces(spill, entry)
                else:
                    yield self._as_record(entry)
        finally:
            if handed_over:
                assert spill is not None
                spill.remove()

    def _pieces(self, spill: SpillFile, entry: _SpilledText) -> Iterator[Record]:
        decoder = codecs.getincrementaldecoder(TEXT_ENCODING[0])(TEXT_ENCODING[1])
        read, size = 0, entry.nbytes
        for data in spill.pieces(entry.offset, size, PIECE):
            read += len(data)
            text = decoder.decode(data, final=read >= size)
            if text:
                yield Record(entry.stream, text, self.job, self.job.location, entry.time)

    def _forget_taken(self) -> None:
        """A receive took every entry: drop them (with the lock held), telling
        ``on_take`` first."""
        if self.on_take is not None:
            self.on_take()
        self.version += 1
        self._entries.clear()
        self._text_in_memory = 0

    def _as_record(self, entry: _Entry) -> Record:
        if isinstance(entry, Record):
            return entry
        if isinstance(entry, _TextRun):
            if len(entry.chunks) > 1:
                entry.chunks[:] = ["".join(entry.chunks)]
            text = entry.chunks[0]
        else:
            assert self._spill is not None
            text = self._spill.read(entry.offset, entry.nbytes).decode(*TEXT_ENCODING)
        return Record(entry.stream, text, self.job, self.job.location, entry.time)

    def close(self) -> None:
        """Free every record and delete the spill file (the job was removed)."""
        with self._lock:
            self.pending.clear()
            self._entries.clear()
            self._text_in_memory = 0
            if self._spill is not None:
                self._spill.remove()
            self._spill = None
