"""Live job widgets for notebooks: one per job shown as a cell result, and a live table.

Each widget batches its trait changes with ``hold_sync()``; what jobs do reaches it only
through the manager's one updater thread (widget_hub), never from job threads. Job output
is shown from the record buffer's bounded tail as HTML (widget_html), never through
``Output`` widgets from threads (they lose appends and re-send everything). A widget's
``text/plain`` and ``text/html`` hold only what cannot vary with timing (no state, times
or ids), so notebooks validate under plain ``pytest --nbval``; the live widget shows the
rest.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..model.errors import JobError
from ..model.formatting import cpu_text, memory_text, one_line, text_table
from ..model.formatting import elapsed_text as elapsed
from ..model.state import JobState
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

if TYPE_CHECKING:
    from ..manager.manager import JobManager
    from ..model.job import Job


class JobWidget(w.VBox):
    """A live view of one job: its row (and one per child when it has several: state
    coloured, location, elapsed, more data), why it failed, a progress bar once the job
    reports progress, the tail of its output, the prompt with a field and Send while it
    waits for input, and Stop / Receive / Remove buttons."""

    def __init__(self, job: Job, manager: JobManager, **kwargs: Any) -> None:
        self.job = job
        self.manager = manager
        # The state table and the output tail share one model: one message per refresh.
        self.view = w.HTML()
        self.progress = w.FloatProgress(min=0, max=100)
        self.progress_label = w.Label()
        # Hidden, with its label, until the job reports progress: no empty line before.
        self.progress_row = w.HBox(
            [self.progress, self.progress_label], layout=w.Layout(display="none")
        )
        self.stop_button = w.Button(description="Stop", icon="stop")
        self.receive_button = w.Button(description="Receive", icon="download")
        self.remove_button = w.Button(description="Remove", icon="trash")
        self.message = w.HTML()
        self.received = w.Output()
        # Shown while the job is Blocked: its prompt, where to type, and Send.
        self.prompt_label = w.Label()
        self.answer = w.Text(placeholder="answer", continuous_update=True)
        self.secret_answer = w.Password(placeholder="answer", layout=w.Layout(display="none"))
        self.send_button = w.Button(description="Send", icon="paper-plane")
        self.asking = w.HBox(
            [self.prompt_label, self.answer, self.secret_answer, self.send_button],
            layout=w.Layout(display="none"),
        )
        self.asking.add_class("ipyjobs-asking")
        self.stop_button.on_click(lambda _: self._act(self._stop))
        self.receive_button.on_click(lambda _: self._act(self._receive))
        self.remove_button.on_click(lambda _: self._act(self._remove))
        self.send_button.on_click(lambda _: self._act(self._send_answer))
        buttons = w.HBox([self.stop_button, self.receive_button, self.remove_button, self.message])
        super().__init__(
            [
                self.view,
                self.progress_row,
                self.asking,
                buttons,
                self.received,
            ],
            **kwargs,
        )
        self.add_class("ipyjobs-job")
        self.refresh()
        hub(manager).watch(self)

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
        prompt = None if job.removed else job.prompt
        secret = prompt is not None and job.prompt_is_secret
        with self.hold_sync():
            self.view.value = (
                view + "".join(failures) + tail_html(members, self.manager.widget_tail_lines)
            )
            self.asking.layout.display = None if prompt is not None else "none"
            self.prompt_label.value = (prompt or "").strip() or "input:"
            self.answer.layout.display = "none" if secret else None
            self.secret_answer.layout.display = None if secret else "none"
            if folded:  # the bar counts finished children
                done = sum(c.finished for c in children)
                self.progress_row.layout.display = None
                self.progress.value = 100 * done / len(children)
                self.progress_label.value = f"{done} of {len(children)} finished"
            elif progress is not None:
                self.progress_row.layout.display = None
                self.progress.value = progress.percent or 0
                self.progress_label.value = f"{progress.activity} {progress.status}".strip()
            finished = job.finished
            self.stop_button.disabled = finished or job.removed
            self.receive_button.disabled = job.removed
            self.remove_button.disabled = job.removed

    def _row(self, member: Job) -> list[str]:
        state = "Removed" if self.job.removed else member.state.value
        return [
            str(member.id),
            html.escape(member.name),
            member.job_type,
            state_html(state),
            html.escape(member.location),
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

    # -- buttons (run in the kernel's main thread, as comm messages) -----------------------
    def _act(self, action: Callable[[], None]) -> None:
        try:
            action()
            self.message.value = ""
        except JobError as error:
            self.message.value = f'<span class="ipyjobs-message">{html.escape(str(error))}</span>'
        self.refresh()

    def _send_answer(self) -> None:
        secret = self.job.prompt_is_secret
        field = self.secret_answer if secret else self.answer
        self.job.send_input(field.value)
        field.value = ""

    def _stop(self) -> None:
        if self.job.removed:
            raise JobError(f"{self.job.name} was removed")
        self.manager.request_stop(self.job)

    def _receive(self) -> None:
        if self.job.removed:
            raise JobError(f"{self.job.name} was removed")
        from IPython.display import display

        from ..execution.replay import replay

        with self.received:
            for value in replay(self.job.take_records(), self.manager.host):
                display(value)

    def _remove(self) -> None:
        if self.job.removed:
            raise JobError(f"{self.job.name} was removed")
        self.manager.remove_job(self.job)


class JobTableWidget(w.HTML):
    """A live Get-Job table: rows come, change and go as jobs start, run and are removed.
    ``query`` gives the jobs to show at each refresh."""

    def __init__(
        self, query: Callable[[], list[Job]], manager: JobManager, long: bool = False
    ) -> None:
        self.query = query
        self.manager = manager
        self.long = long  # its text/plain has Elapsed, CPU and Memory (%jobs -l)
        self._shown = self._jobs()
        super().__init__()
        self.add_class("ipyjobs-table")
        self.refresh()
        hub(manager).watch(self)

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
            (j.id, j.state, j.has_more_data, elapsed(j), cpu_text(j), memory_text(j)) for j in jobs
        )

    def refresh(self) -> None:
        self._shown = self._jobs()
        columns = (
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
            for j in self._shown
        ]
        self.value = html_table(columns, rows, "ipyjobs-live") if rows else "<i>No jobs.</i>"
