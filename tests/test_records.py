"""The record buffer on its own: order, merging, keep, and spilling past the bound."""

from __future__ import annotations

import os

from ipyjobs import Job, Stream
from ipyjobs.model.record_buffer import RecordBuffer


def make_job(limit: int = 1 << 20) -> Job:
    return Job(1, job_type="ThreadJob", command="test", memory_limit=limit)


def test_text_of_one_stream_merges_and_order_holds():
    job = make_job()
    inbox = job.records.pending
    inbox.extend(["a", "b\n", (Stream.STDERR, "e1"), (Stream.STDERR, "e2")])
    job.records.add(Stream.OUTPUT, 7)
    inbox.append("c")
    records = job.records.take()
    assert [(r.stream, r.value) for r in records] == [
        (Stream.STDOUT, "ab\n"),
        (Stream.STDERR, "e1e2"),
        (Stream.OUTPUT, 7),
        (Stream.STDOUT, "c"),
    ]
    assert not job.records.has_data()


def test_keep_leaves_records_and_later_text_joins_them():
    job = make_job()
    job.records.pending.append("a")
    assert [r.value for r in job.records.take(keep=True)] == ["a"]
    job.records.pending.append("b")
    assert [r.value for r in job.records.take()] == ["ab"]
    job.records.pending.append("c")
    assert [r.value for r in job.records.take()] == ["c"]


def test_collect_across_several_calls_keeps_one_record_per_run():
    job = make_job()
    for i in range(100):
        job.records.pending.append(f"{i}\n")
        job.records.collect()
    (record,) = job.records.take()
    assert record.value == "".join(f"{i}\n" for i in range(100))


def test_text_past_the_bound_spills_and_is_received_in_full():
    job = make_job(limit=100)
    lines = [f"line {i:05d} ünïcode \udcff\n" for i in range(1000)]
    for i, line in enumerate(lines):
        job.records.pending.append(line)
        if i == 500:
            job.records.add(Stream.OUTPUT, "middle")
        if i % 10 == 0:
            job.records.collect()
    job.records.collect()
    folder = job.records.spill_folder
    assert folder is not None and os.path.getsize(os.path.join(folder, "spill.txt")) > 10_000
    assert len(job.records._entries) <= 5  # memory holds markers, not lines
    records = job.records.take()
    assert [r.stream for r in records] == [Stream.STDOUT, Stream.OUTPUT, Stream.STDOUT]
    assert records[0].value + records[2].value == "".join(lines)
    assert records[1].value == "middle"
    job.records.close()
    assert not os.path.exists(folder)


def test_spill_file_is_reused_after_receive():
    job = make_job(limit=10)
    job.records.pending.append("x" * 50)
    job.records.collect()
    assert job.records.take()[0].value == "x" * 50
    job.records.pending.append("y" * 50)
    assert job.records.take()[0].value == "y" * 50
    path = os.path.join(job.records.spill_folder, "spill.txt")
    assert os.path.getsize(path) == 0  # truncated once everything was received
    job.records.close()


def test_spilled_text_streams_out_in_bounded_pieces_and_intact(monkeypatch):
    from ipyjobs.model import record_buffer

    monkeypatch.setattr(record_buffer, "PIECE", 1000)
    job = make_job(limit=100)
    text = "".join(f"{i:05d} é€𝄞\n" for i in range(2000))  # multi-byte characters
    for start in range(0, len(text), 700):
        job.records.pending.append(text[start : start + 700])
        job.records.collect()
    folder = job.records.spill_folder
    stream = job.records.take_stream()
    first = next(stream)
    job.records.pending.append("written while reading\n")  # goes to a new spill
    job.records.collect()
    rest = list(stream)
    pieces = [first, *rest]
    assert len(pieces) > 10 and all(len(p.value.encode()) <= 1000 for p in pieces)
    assert "".join(p.value for p in pieces) == text
    assert not os.path.exists(folder)  # the old spill is gone once read
    assert [r.value for r in job.records.take()] == ["written while reading\n"]
    job.records.close()


def test_a_record_added_is_the_frozen_record_the_dataclass_would_make():
    import dataclasses

    import pytest

    from ipyjobs.model.records import Record

    job = make_job()
    job.records.add(Stream.WARNING, "careful", "careful\n")
    (record,) = job.records.take()
    assert record == Record(Stream.WARNING, "careful", job, job.location, record.time, "careful\n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.value = "changed"  # type: ignore[misc]


def test_the_tail_keeps_the_last_characters_with_their_streams(monkeypatch):
    monkeypatch.setattr(RecordBuffer, "tail_limit", 10)
    records = make_job().records
    written = []
    for i in range(300):  # stdout and stderr taking turns: a run each
        stream = Stream.STDOUT if i % 2 else Stream.STDERR
        text = str(i % 10) * (1 + i % 3)
        records.pending.append((stream, text))  # as the job's writes arrive
        records.collect()
        written.append((stream, text))
        expected = "".join(t for _, t in written)[-10:]
        assert records.tail == expected
    assert "".join(t for _, t in records.tail_runs()) == expected
    assert [s for s, _ in records.tail_runs()][-1] is written[-1][0]
    records.pending.append("x" * 25)  # longer than the tail on its own
    records.collect()
    assert records.tail_runs() == [(Stream.STDOUT, "x" * 10)]
    records.pending.append((Stream.STDERR, "yz"))
    records.collect()
    assert records.tail == "x" * 8 + "yz"
