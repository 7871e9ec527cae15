"""What a notification says (DESIGN §13): built from what a job is, without sending it.

Pure: the same message comes from the kernel (``manager/notifying.py``) and from a
detached job's supervisor (``backends/detached_notify.py``), which has no kernel and no
``Job`` of its own, so it is made from plain values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .state import JobState

#: Apprise's notification type for each state (apprise.NotifyType's values).
KINDS = {
    JobState.COMPLETED: "success",
    JobState.FAILED: "failure",
    JobState.STOPPED: "warning",
    JobState.BLOCKED: "warning",
}
#: The output a notification quotes at most: lines, then characters.
TAIL_LINES = 5
TAIL_CHARS = 500


@dataclass(frozen=True)
class Notification:
    title: str
    body: str
    kind: str  # success, failure, warning or info, as Apprise names them


@dataclass(frozen=True)
class JobFacts:
    """What a notification says of a job, however it was learnt."""

    id: int
    name: str
    state: JobState
    seconds: float | None = None  # how long it ran, to its end or to now
    reason: str | None = None  # why it failed, as text
    prompt: str | None = None  # what it asks, when Blocked
    output: str = ""  # the end of what it printed
    host: str = ""
    scope: str = ""  # the notebook (or folder) it was started from


def compose(facts: JobFacts) -> Notification:
    """Title ``<name> <state>``; the body says the rest, a line each."""
    state = facts.state.value
    lines = [f"Job {facts.id} ({facts.name}) {state}" + _after(facts.seconds)]
    if facts.state is JobState.FAILED and facts.reason:
        lines.append(f"Reason: {last_line(facts.reason)}")
    if facts.state is JobState.BLOCKED and facts.prompt is not None:
        lines.append(f"It asks: {facts.prompt.strip() or 'input'}")
    tail = output_tail(facts.output)
    if tail:
        lines.append("Last output:")
        lines.extend(f"  {line}" for line in tail.split("\n"))
    where = [
        part
        for part in (
            f"Host: {facts.host}" if facts.host else "",
            f"{_scope_label(facts.scope)}: {facts.scope}" if facts.scope else "",
        )
        if part
    ]
    if where:
        lines.append(" · ".join(where))
    return Notification(f"{facts.name} {state}", "\n".join(lines), KINDS.get(facts.state, "info"))


def last_line(text: str) -> str:
    """A reason's last line that says something (a traceback's is the exception)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def output_tail(text: str) -> str:
    """At most the last ``TAIL_LINES`` lines of ``text``, and ``TAIL_CHARS`` characters."""
    lines = text.rstrip("\n").split("\n")[-TAIL_LINES:]
    tail = "\n".join(lines).strip("\n")
    return tail if len(tail) <= TAIL_CHARS else "…" + tail[-(TAIL_CHARS - 1) :]


def joined_output(runs: Iterable[tuple[object, str]]) -> str:
    """The text of (stream, text) runs, as a record buffer's tail keeps them."""
    return "".join(text for _, text in runs)


def _scope_label(scope: str) -> str:
    """A notebook's path (the server's JPY_SESSION_NAME), or the folder it ran in."""
    return "Notebook" if scope.endswith(".ipynb") else "Folder"


def _after(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f" after {hours} h {minutes:02d} min"
    if minutes:
        return f" after {minutes} min {secs:02d} s"
    return f" after {seconds:.1f} s"
