"""Receive-Job's replay: a job's records shown again where the receiver is, in order."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from . import _extension
from .records import Record, Stream


def replay(records: Iterable[Record]) -> list[Any]:
    """Write text to stdout/stderr, show displays, warnings and errors as IPython shows
    them, and return the output values. Progress is not replayed (it is a live report,
    kept for ``raw`` receives and the widgets)."""
    outputs: list[Any] = []
    for record in records:
        stream = record.stream
        if stream is Stream.OUTPUT:
            outputs.append(record.value)
        elif stream is Stream.STDOUT:
            sys.stdout.write(record.value)
        elif stream is Stream.STDERR:
            sys.stderr.write(record.value)
        elif stream is Stream.DISPLAY:
            _display(record.value)
        elif stream in (Stream.WARNING, Stream.ERROR):
            sys.stderr.write(record.text or f"{record.value!r}\n")
    sys.stdout.flush()
    sys.stderr.flush()
    return outputs


def _display(bundle: dict[str, Any]) -> None:
    if _extension.current_shell() is not None:
        from IPython.display import publish_display_data

        publish_display_data(bundle["data"], bundle.get("metadata") or {})
    else:
        print(bundle["data"].get("text/plain", ""))
