"""Live job widgets for notebooks: one per job shown as a cell result, and a live table.

One updater thread refreshes every live widget at most once per ``update_interval``
(the Jupyter server drops iopub traffic above 1000 messages/s, for good), batching each
widget's trait changes with ``hold_sync()`` and sending only what changed. Job output is
shown from the record buffer's bounded tail as HTML, never through ``Output`` widgets from
threads (they lose appends and re-send everything). A widget's ``text/plain`` and
``text/html`` hold only what cannot vary with timing (no state, times or ids), so
notebooks validate under plain ``pytest --nbval``; the live widget shows the rest.
"""

from __future__ import annotations

import html
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..model.errors import JobError
from ..model.formatting import cpu_text, memory_text, one_line, text_table
from ..model.formatting import elapsed_text as elapsed
from ..model.records import Stream
from ..model.state import JobState

if TYPE_CHECKING:
    from ..manager.manager import JobManager
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


def html_table(columns: Sequence[str], rows: Sequence[Sequence[str]], cls: str) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
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


def _worth_a_look(children: Sequence[Job]) -> list[Job]:
    """At most ``MAX_FOLDED`` children of a large fan-out: failed, blocked, running...,
    then the latest finished; in child order."""
    ranked = sorted(
        range(len(children)),
        key=lambda i: (_LOOK_ORDER.get(children[i].state, 9), -i),
    )
    return [children[i] for i in sorted(ranked[:MAX_FOLDED])]


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
            members = _worth_a_look(members)
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
        members = _worth_a_look(children) if folded else children or [job]
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


class WidgetHub:
    """The one updater thread of a manager's live widgets. It ticks every
    ``update_interval`` while any shown job may still change, and sleeps otherwise until a
    job starts, changes state, or is received or removed."""

    def __init__(self, manager: JobManager) -> None:
        self.manager = manager
        self._widgets: weakref.WeakSet[Any] = weakref.WeakSet()
        self._seen: weakref.WeakKeyDictionary[Any, tuple] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        manager.start_listeners.append(self._job_started)
        manager.child_listeners.append(self._job_started)  # a lazy fan-out's new child
        manager.change_listeners.append(lambda job: self.wake())

    def watch(self, widget: Any) -> None:
        with self._lock:
            self._widgets.add(widget)
            self._seen[widget] = widget.snapshot()
        if isinstance(widget, JobWidget):  # it may have started before this hub existed
            for member in [widget.job, *widget.job.child_jobs]:
                member.add_state_callback(self._state_changed)
        self.wake()

    def _state_changed(self, *_: Any) -> None:
        self.wake()

    def _job_started(self, job: Job) -> None:
        for member in [job, *job.child_jobs]:
            member.add_state_callback(self._state_changed)
        self.wake()

    def wake(self) -> None:
        with self._lock:
            if not self._widgets:
                return
            self._wake.set()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._main, name="ipyjobs-widgets", daemon=True
                )
                self._thread.start()

    def _main(self) -> None:
        while True:
            self._wake.wait(self.manager.update_interval)
            self._wake.clear()
            if self.tick():
                continue  # something runs, or just changed: look again next interval
            if self._wake.wait(1.0):
                continue
            with self._lock:
                if not self._wake.is_set():
                    self._thread = None
                    return

    def tick(self) -> bool:
        """Refresh the widgets whose view changed. True if one did, or if some shown job
        still runs: a job may finish between a refresh and this answer, so the thread
        only stops after a tick that changed nothing."""
        with self._lock:
            widgets = list(self._widgets)
        active = False
        for widget in widgets:
            snapshot = widget.snapshot()
            if snapshot != self._seen.get(widget):
                self._seen[widget] = snapshot
                widget.refresh()
                active = True
            active = active or _running(widget)
        return active

    def stop(self) -> None:
        with self._lock:
            self._widgets = weakref.WeakSet()
            self._wake.set()


def _running(widget: Any) -> bool:
    if isinstance(widget, JobWidget):
        return not widget.job.finished and not widget.job.removed
    return any(not job.finished for job in widget._shown)


_hubs: weakref.WeakKeyDictionary[Any, WidgetHub] = weakref.WeakKeyDictionary()


def hub(manager: JobManager) -> WidgetHub:
    if manager not in _hubs:
        _hubs[manager] = WidgetHub(manager)
    return _hubs[manager]
