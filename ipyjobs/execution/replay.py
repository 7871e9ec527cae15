"""Receive-Job's replay: a job's records shown again where the receiver is, in order."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from ..model.records import TEXT_STREAMS, Record, Stream
from .host import PLAIN, Host


def replay(records: Iterable[Record], host: Host = PLAIN) -> list[Any]:
    """Write text to stdout/stderr, show displays, warnings and errors as IPython shows
    them, and return the output values. Progress is not replayed (it is a live report,
    kept for ``raw`` receives and the widgets).

    A kernel buffers stdout and stderr apart and sends each when it likes, so the order
    between them would be lost (o1, e1, o2 arrives as o1 o2, then e1): the stream being
    left is flushed at each change, and both before a display. ``host`` shows displays."""
    outputs: list[Any] = []
    written: Any = None  # the stream written last and not flushed since
    for record in records:
        stream = record.stream
        if stream is Stream.OUTPUT:
            outputs.append(record.value)
            continue
        if stream is Stream.PROGRESS:
            continue
        target = sys.stdout if stream is Stream.STDOUT else sys.stderr
        if written is not None and (written is not target or stream is Stream.DISPLAY):
            written.flush()
            written = None
        if stream is Stream.DISPLAY:
            host.show_display(record.value)
            continue
        target.write(record.value if stream in TEXT_STREAMS else _shown(record))
        written = target
    sys.stdout.flush()
    sys.stderr.flush()
    return outputs


def _shown(record: Record) -> str:
    """A warning or error as replayed: its formatted text (the traceback)."""
    return record.text or f"{record.value!r}\n"
