"""What a widget's buttons do, and Receive's output as the widget shows it.

The buttons run beside the user's cell (DESIGN §12), so what they received cannot be
printed: a thread's print goes to whichever cell its parent message names, or nowhere.
Receive therefore turns the records into notebook outputs (nbformat's ``stream`` and
``display_data``) and the widget shows them in its own ``Output``: the text, displays,
warnings and errors in order, then the values as ``%job_receive`` would show them (the
one value, or the list of several).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..model.errors import JobError
from ..model.records import TEXT_STREAMS, Record, Stream

if TYPE_CHECKING:
    from ..manager.manager import JobManager
    from ..model.job import Job

#: How a value is shown: IPython's display formatter, ``(data, metadata)``.
Formatter = Callable[[Any], tuple[dict[str, Any], dict[str, Any]]]


def plain_format(value: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"text/plain": repr(value)}, {}


def shell_format() -> Formatter:
    """The running shell's display formatter, as a cell shows a value."""
    from IPython.core.getipython import get_ipython

    formatter = getattr(get_ipython(), "display_formatter", None)
    return plain_format if formatter is None else formatter.format


def received_outputs(records: Iterable[Record], show: Formatter) -> list[dict[str, Any]]:
    """Notebook outputs for ``records``: consecutive text of one stream in one output."""
    outputs: list[dict[str, Any]] = []
    values: list[Any] = []
    for record in records:
        stream = record.stream
        if stream is Stream.OUTPUT:
            values.append(record.value)
        elif stream is Stream.PROGRESS:
            continue  # a live report, not replayed (docs/decisions.md)
        elif stream is Stream.DISPLAY:
            bundle = record.value
            outputs.append(
                {
                    "output_type": "display_data",
                    "data": bundle["data"],
                    "metadata": bundle.get("metadata") or {},
                }
            )
        else:
            name = "stdout" if stream is Stream.STDOUT else "stderr"
            text = record.value if stream in TEXT_STREAMS else record.text or f"{record.value!r}\n"
            last = outputs[-1] if outputs else None
            if last is not None and last["output_type"] == "stream" and last["name"] == name:
                last["text"] += text
            else:
                outputs.append({"output_type": "stream", "name": name, "text": text})
    if values:
        data, metadata = show(values[0] if len(values) == 1 else values)
        outputs.append({"output_type": "display_data", "data": data, "metadata": metadata})
    return outputs


def stop(manager: JobManager, job: Job) -> None:
    _not_removed(job)
    manager.request_stop(job)


def remove(manager: JobManager, job: Job) -> None:
    _not_removed(job)
    manager.remove_job(job)


def send(job: Job, answer: Any) -> None:
    _not_removed(job)
    job.send_input(str(answer))


def receive(job: Job, show: Formatter) -> list[dict[str, Any]]:
    _not_removed(job)
    return received_outputs(job.take_records(), show)


def _not_removed(job: Job) -> None:
    if job.removed:
        raise JobError(f"{job.name} was removed")
