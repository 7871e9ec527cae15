"""Live job widgets for notebooks: one per job shown as a cell result, and a live table.

Each widget is a ``JobPanel`` (its view and controls, an anywidget whose front end reaches
the kernel while it is busy, DESIGN §12) above an ``Output`` where Receive shows what it
received. The panel's traits change together under ``hold_sync()``, and only from the
manager's one updater thread (widget_hub), never from job threads; job output is shown from
the record buffer's bounded tail as HTML (widget_html). A click acts on the thread that
handles it (a subshell's, or the main shell's) under the widget's lock, and leaves the
refresh to the updater. A widget's ``text/plain`` and ``text/html`` hold only what cannot
vary with timing (no state, times or ids), so notebooks validate under plain
``pytest --nbval``; the live widget shows the rest.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..model.errors import JobError
from ..model.formatting import cpu_text, memory_text, one_line, text_table
from ..model.formatting import elapsed_text as elapsed
from ..model.state import JobState
from . import widget_actions as actions
from .widget_html import (
    FOLD_AT,
    MAX_REASONS,
    ROW_COLUMNS,
    STABLE_COLUMNS,
    STATE_COLOURS,
    failure_line,
    html_table,
    stable_row,
    state_html,
    tail_html,
    worth_a_look,
)
from .widget_hub import hub
from .widget_panel import JobPanel

if TYPE_CHECKING:
    from ..manager.manager import JobManager
    from ..model.job import Job


class JobWidget(w.VBox):
    """A live view of one job: its row (and one per child when it has several: state
    coloured, location, elapsed, more data), why it failed, a progress bar once the job
    reports progress, the tail of its output, the prompt with a field and Send while it
    waits for input, Stop / Receive / Remove, a bell, and what Receive received."""

    def __init__(self, job: Job, manager: JobManager, **kwargs: Any) -> None:
        self.job = job
        self.manager = manager
        self._acting = threading.Lock()
        self.panel = JobPanel(self, kind="job")
        self.received = w.Output()
        super().__init__([self.panel, self.received], **kwargs)
        self.add_class("ipyjobs-job")
        seen = self.snapshot()  # before the refresh: a change in between is seen
        self.refresh()
        hub(manager).watch(self, seen)

    # -- what nbval and static views see ------------------------------------------------
    def __repr__(self) -> str:
        return text_table(STABLE_COLUMNS, [stable_row(self.job)])

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = repr(self)
        bundle["text/html"] = html_table(
            STABLE_COLUMNS, [[html.escape(c) for c in stable_row(self.job)]], "ipyjobs-static"
        )
        return bundle

    # -- live state ---------------------------------------------------------------------
    def snapshot(self) -> tuple[Any, ...]:
        """Everything shown; the widget is refreshed when this changes."""
        job = self.job
        members = job.child_jobs or [job]
        counted: tuple[Any, ...] = ()
        if len(members) > FOLD_AT:  # a summary: what it counts, and the children it folds
            counted = tuple(sorted(job.state_counts().items()))
            members = worth_a_look(members)
        return (
            counted,
            job.removed,
            job.state,
            job.prompt,
            job.has_more_data,
            elapsed(job),
            cpu_text(job),
            memory_text(job),
            tuple((c.state, c.has_more_data, c.records.version, c.progress) for c in members),
        )

    def refresh(self) -> None:
        job = self.job
        children = job.child_jobs
        folded = len(children) > FOLD_AT
        # One row for a job with one child (the child repeats it, as Get-Job shows it), a
        # row per child when there are a few, and a summary for a large fan-out with the
        # rows of the children worth a look (failed, running) folded under it.
        members = worth_a_look(children) if folded else children or [job]
        shown = [job, *children] if 1 < len(children) <= FOLD_AT else [job]
        rows = [self._row(member) for member in shown]
        progress = next((c.progress for c in members if c.progress is not None), None)
        failed = [c for c in members if c.state is JobState.FAILED and c.reason is not None]
        failures = [
            f'<div class="ipyjobs-reason" style="color:{STATE_COLOURS["Failed"]}">'
            f"{html.escape((f'{c.name}: ' if len(children) > 1 else '') + failure_line(c))}"
            "</div>"
            for c in failed[:MAX_REASONS]
        ]
        view = html_table(ROW_COLUMNS, rows, "ipyjobs-live")
        if folded:
            view += self._summary(children, members)
        bar: dict[str, Any] = {}  # none until the job reports progress
        if folded:  # the bar counts finished children
            done = sum(c.finished for c in children)
            bar = {
                "percent": 100 * done / len(children),
                "label": f"{done} of {len(children)} finished",
            }
        elif progress is not None:
            bar = {
                "percent": progress.percent or 0,
                "label": f"{progress.activity} {progress.status}".strip(),
            }
        reason = next((failure_line(c) for c in [job, *failed] if c.reason is not None), "")
        with self.panel.hold_sync():
            self.panel.view = (
                view + "".join(failures) + tail_html(members, self.manager.widget_tail_lines)
            )
            self.panel.progress = bar
            self.panel.jobs = [job_entry(job, reason)]

    def _row(self, member: Job) -> list[str]:
        state = "Removed" if self.job.removed else member.state.value
        # A job of one child is where that child is (a Dask job's, once it runs).
        where = member.child_jobs[0] if len(member.child_jobs) == 1 else member
        return [
            str(member.id),
            html.escape(member.name),
            member.job_type,
            state_html(state),
            html.escape(where.location),
            elapsed(member),
            cpu_text(member),
            memory_text(member),
            str(member.has_more_data),
            html.escape(one_line(member.command)),
        ]

    def _summary(self, children: Sequence[Job], members: Sequence[Job]) -> str:
        """``1000 children: 950 Completed, 40 Running, 10 Failed``, then a folded table
        of the children worth a look."""
        counts = self.job.state_counts()
        said = ", ".join(
            f"{counts[state]} {state_html(state.value)}" for state in JobState if state in counts
        )
        rows = [self._row(member) for member in members]
        folded = (
            f"<details><summary>{len(members)} of the children (failed, running, "
            f"waiting, then the latest)</summary>"
            f"{html_table(ROW_COLUMNS, rows, 'ipyjobs-children')}</details>"
            if rows
            else ""
        )
        return f'<div class="ipyjobs-summary">{len(children)} children: {said}</div>{folded}'

    # -- clicks (on a subshell's thread while the kernel is busy, DESIGN §12) ------------
    def act(self, request: dict[str, Any]) -> str:
        """Stop, receive, remove or send, as the front end asks; what to say, or ""."""
        with self._acting:
            said = _act(self.manager, self.job, self.received, request)
        hub(self.manager).wake()  # the updater shows the effect, within an interval
        return said


def _act(manager: JobManager, job: Job, received: w.Output, request: dict[str, Any]) -> str:
    action = request.get("action")
    try:
        if action == "stop":
            actions.stop(manager, job)
        elif action == "remove":
            actions.remove(manager, job)
        elif action == "send":
            actions.send(job, request.get("answer", ""))
        elif action == "receive":
            outputs = actions.receive(job, actions.shell_format())
            received.outputs = (*received.outputs, *outputs)
        else:
            return f"unknown action {action!r}"
    except JobError as error:
        return str(error)
    return ""


def job_entry(job: Job, reason: str = "") -> dict[str, Any]:
    """What the front end knows of a shown job: for its buttons, Send field and bell."""
    prompt = None if job.removed else job.prompt
    return {
        "id": job.id,
        "name": job.name,
        "state": "Removed" if job.removed else job.state.value,
        "reason": reason,
        "prompt": prompt,
        "secret": prompt is not None and job.prompt_is_secret,
        "finished": job.finished or job.removed,
        "removed": job.removed,
    }


class JobTableWidget(w.VBox):
    """A live Get-Job table: rows come, change and go as jobs start, run and are removed;
    each row has Stop, Receive and Remove, a Blocked job its prompt and Send, and the
    table a bell. ``query`` gives the jobs to show at each refresh."""

    COLUMNS = (
        "Id",
        "Name",
        "JobType",
        "State",
        "HasMoreData",
        "Location",
        "Elapsed",
        "CPU",
        "Memory",
        "Command",
    )

    def __init__(
        self, query: Callable[[], list[Job]], manager: JobManager, long: bool = False
    ) -> None:
        self.query = query
        self.manager = manager
        self.long = long  # its text/plain has Elapsed, CPU and Memory (%jobs -l)
        self._shown = self._jobs()
        self._acting = threading.Lock()
        self.panel = JobPanel(self, kind="table")
        self.received = w.Output()
        super().__init__([self.panel, self.received])
        self.add_class("ipyjobs-table")
        seen = self.snapshot()
        self.refresh()
        hub(manager).watch(self, seen)

    def _jobs(self) -> list[Job]:
        try:
            return [job for job in self.query() if not job.removed]
        except JobError:
            return []

    def __repr__(self) -> str:
        from ..model.formatting import job_table

        return job_table(self._shown, self.long) if self._shown else "No jobs."

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        from ..model.formatting import COLUMNS, job_row

        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = repr(self)
        rows = [[html.escape(c) for c in job_row(j)] for j in self._shown]
        bundle["text/html"] = html_table(COLUMNS, rows, "ipyjobs-static")
        return bundle

    def snapshot(self) -> tuple[Any, ...]:
        jobs = self._jobs()
        return tuple(
            (j.id, j.state, j.prompt, j.has_more_data, elapsed(j), cpu_text(j), memory_text(j))
            for j in jobs
        )

    def refresh(self) -> None:
        self._shown = shown = self._jobs()
        rows = [
            [
                str(j.id),
                html.escape(j.name),
                j.job_type,
                state_html(j.state.value),
                str(j.has_more_data),
                html.escape(j.location),
                elapsed(j),
                cpu_text(j),
                memory_text(j),
                html.escape(one_line(j.command)),
            ]
            for j in shown
        ]
        view = (
            html_table(self.COLUMNS, rows, "ipyjobs-live", [j.id for j in shown])
            if rows
            else "<i>No jobs.</i>"
        )
        with self.panel.hold_sync():
            self.panel.view = view
            self.panel.jobs = [
                job_entry(j, failure_line(j) if j.state is JobState.FAILED else "") for j in shown
            ]

    def act(self, request: dict[str, Any]) -> str:
        """A row's Stop, Receive, Remove or Send; what to say, or ""."""
        job = next((j for j in self._shown if j.id == request.get("job")), None)
        if job is None:
            return f"job {request.get('job')} is no longer listed"
        with self._acting:
            said = _act(self.manager, job, self.received, request)
        hub(self.manager).wake()
        return said
