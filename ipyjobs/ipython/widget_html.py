"""What the live widgets render: the HTML and text of rows, states, tails and failures.

Kept apart from the widgets so that what a job looks like (colours, columns, which
children a large fan-out folds, how much of the output its tail shows) can be read and
tested without a kernel, a comm or a thread: every function here is pure, from jobs to
strings, and imports nothing of ipywidgets.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..model.formatting import one_line
from ..model.records import Stream
from ..model.state import JobState

if TYPE_CHECKING:
    from ..model.job import Job

#: Each state's colour: mid-tones, readable (a contrast of 3:1 or more, WCAG's bar for
#: bold text) on JupyterLab's light and dark themes alike; Blocked has its own, as it
#: waits for the user.
STATE_COLOURS = {
    "NotStarted": "#6c757d",
    "Running": "#0d6efd",
    "Completed": "#198754",
    "Failed": "#dc3545",
    "Stopping": "#d9480f",
    "Stopped": "#8a63d2",
    "Blocked": "#d6336c",
    "Suspending": "#d9480f",
    "Suspended": "#868e96",
    "Disconnected": "#868e96",
}
#: What the live tail says of the records it does not show.
_NOTED_NAMES = (
    (Stream.WARNING, "warning", "warnings"),
    (Stream.DISPLAY, "display", "displays"),
    (Stream.ERROR, "error", "errors"),
)
STABLE_COLUMNS = ("Id", "Name", "JobType", "Location", "Command")


def stable_row(job: Job) -> tuple[str, ...]:
    return (str(job.id), job.name, job.job_type, job.location, one_line(job.command))


def html_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    cls: str,
    action_ids: Sequence[int] | None = None,
) -> str:
    """A table of ``rows`` (cells already HTML). With ``action_ids``, each row ends in an
    empty cell naming its job, where the front end puts the row's buttons."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    ends = [""] * len(rows)
    if action_ids is not None:
        head += "<th></th>"
        ends = [f'<td class="ipyjobs-actions" data-job="{i}"></td>' for i in action_ids]
    body = "".join(
        "<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + end + "</tr>"
        for row, end in zip(rows, ends, strict=True)
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def state_html(state: str) -> str:
    colour = STATE_COLOURS.get(state, "#000")
    return f'<span class="ipyjobs-state" style="color:{colour};font-weight:bold">{state}</span>'


def tail_html(members: Sequence[Job], lines: int) -> str:
    """The last ``lines`` lines the jobs wrote, stderr in the error colour, and a line
    naming the warnings, displays and errors recorded (the tail shows text only)."""
    runs = [run for member in members for run in member.records.tail_runs()]
    kept, count = [], 0
    for stream, text in reversed(runs):  # from the end, until enough lines are kept
        pieces = text.split("\n")
        if count + len(pieces) - 1 >= lines:
            text = "\n".join(pieces[-(lines - count) :]).lstrip("\n")
            kept.append((stream, text))
            break
        kept.append((stream, text))
        count += len(pieces) - 1
    body = "".join(
        f'<span class="ipyjobs-stderr" style="color:var(--jp-error-color1,#d32f2f)">'
        f"{html.escape(text)}</span>"
        if stream is Stream.STDERR
        else html.escape(text)
        for stream, text in reversed(kept)
    ).rstrip("\n")
    noted: dict[Stream, int] = {}
    for member in members:
        for stream, number in (member.records.noted or {}).items():
            noted[stream] = noted.get(stream, 0) + number
    said = [
        f"{noted[stream]} {one if noted[stream] == 1 else many}"
        for stream, one, many in _NOTED_NAMES
        if noted.get(stream)
    ]
    parts = []
    if body:
        parts.append(
            f'<pre class="ipyjobs-tail" style="max-height:16em;overflow:auto">{body}</pre>'
        )
    if said:
        parts.append(
            f'<div class="ipyjobs-noted">Also recorded: {", ".join(said)} '
            "(Receive shows them).</div>"
        )
    return "".join(parts)


def failure_line(job: Job) -> str:
    """``ValueError: bad data in row 7``: why the job failed, in one line."""
    reason = job.reason
    if reason is None:
        return ""
    text = one_line(str(reason))
    return f"{type(reason).__name__}: {text}" if text else type(reason).__name__


#: A job with more children than this shows a summary with their rows folded.
FOLD_AT = 8
#: How many children a folded summary lists, and how many failure reasons a widget shows.
MAX_FOLDED = 20
MAX_REASONS = 5
ROW_COLUMNS = (
    "Id",
    "Name",
    "JobType",
    "State",
    "Location",
    "Elapsed",
    "CPU",
    "Memory",
    "HasMoreData",
    "Command",
)
_LOOK_ORDER = {
    JobState.FAILED: 0,
    JobState.BLOCKED: 1,
    JobState.RUNNING: 2,
    JobState.STOPPING: 3,
    JobState.SUSPENDED: 4,
}


def worth_a_look(children: Sequence[Job]) -> list[Job]:
    """At most ``MAX_FOLDED`` children of a large fan-out: failed, blocked, running...,
    then the latest finished; in child order."""
    ranked = sorted(
        range(len(children)),
        key=lambda i: (_LOOK_ORDER.get(children[i].state, 9), -i),
    )
    return [children[i] for i in sorted(ranked[:MAX_FOLDED])]
