"""Terminal IPython: bash-style notices when jobs end, and capture while the prompt shows.

While its prompt shows, terminal IPython swaps ``sys.stdout`` for prompt_toolkit's proxy
(``patch_stdout``), which would take the router out of the path: a job printing while the
user types would write on the terminal. prompt_toolkit fires ``on_reset`` each time the
prompt starts, inside that swap, so the router is put back over the proxy there.

A notice (``[1] Completed  Job1  slow()``, or ``[3] Blocked  Job3  name? `` for a job
waiting in ``input()``) is printed above the prompt at once when the
prompt is showing (``run_in_terminal`` keeps the half-typed input intact), and otherwise
queued and printed after the running cell, before the next prompt. Kernels get none:
their widgets show the state.
"""

from __future__ import annotations

import sys
import threading
import weakref
from typing import TYPE_CHECKING, Any

from ..execution import capture
from ..model.formatting import one_line
from ..model.state import JobState

if TYPE_CHECKING:
    from ..manager.manager import JobManager
    from ..model.job import Job


def notice_text(job: Job, state: JobState | None = None, prompt: str | None = None) -> str:
    """``[1] Completed  Job1  slow()``; a Blocked job shows what it asks instead of its
    command: ``[3] Blocked  Job3  name? ``. ``state``: the one to tell, if not the job's
    state now (a parent follows its child a moment later)."""
    what = prompt if prompt is not None else one_line(job.command)
    return f"[{job.id}] {(state or job.state).value}  {job.name}  {what}"


class TerminalNotices:
    def __init__(self, shell: Any, manager: JobManager) -> None:
        self.shell = shell
        self.manager = manager
        self.app = getattr(getattr(shell, "pt_app", None), "app", None)
        self.prompt_showing = False
        self._queue: list[str] = []
        self._lock = threading.Lock()
        # What was told, kept by the job itself (weakly): a removed job leaves nothing
        # here, as it leaves nothing in the manager (ids kept for ever grew by one a job).
        self._ended: weakref.WeakSet[Job] = weakref.WeakSet()
        self._prompts_told: weakref.WeakKeyDictionary[Job, int] = weakref.WeakKeyDictionary()
        manager.start_listeners.append(self._watch)
        manager.child_listeners.append(self._watch_child)
        shell.events.register("pre_run_cell", self._cell_starts)
        shell.events.register("post_run_cell", self._cell_ended)
        if self.app is not None:
            self.app.on_reset += self._prompt_starts

    def detach(self) -> None:
        if self._watch in self.manager.start_listeners:
            self.manager.start_listeners.remove(self._watch)
        if self._watch_child in self.manager.child_listeners:
            self.manager.child_listeners.remove(self._watch_child)
        self.shell.events.unregister("pre_run_cell", self._cell_starts)
        self.shell.events.unregister("post_run_cell", self._cell_ended)
        if self.app is not None:
            self.app.on_reset -= self._prompt_starts

    # -- shell and prompt events --------------------------------------------------------
    def _prompt_starts(self, app: Any) -> None:
        capture.install()  # over prompt_toolkit's stdout proxy, for as long as it shows
        with self._lock:
            self.prompt_showing = True
            lines, self._queue = self._queue, []
        # Queued between the cell's end and now: the prompt is not drawn yet, so they go
        # straight above where it will be.
        if lines:
            _write_terminal("".join(line + "\n" for line in lines))

    def _cell_starts(self, *args: Any) -> None:
        self.prompt_showing = False

    def _cell_ended(self, *args: Any) -> None:
        with self._lock:
            lines, self._queue = self._queue, []
        for line in lines:
            print(line)
        if self.app is not None:
            self.prompt_showing = True  # the next prompt comes now

    # -- jobs ---------------------------------------------------------------------------
    def _watch(self, job: Job) -> None:
        job.add_state_callback(self._changed)
        for child in job.child_jobs:  # each prompt: a parent may stay Blocked throughout
            child.add_state_callback(self._child_changed)
        # A job may have asked, or ended, before it was watched (a quick one does).
        for child in job.child_jobs:
            self._child_changed(child, JobState.NOT_STARTED, child.state)
        self._changed(job, JobState.NOT_STARTED, job.state)

    def _watch_child(self, child: Job) -> None:
        """A child a lazy fan-out added to a job already watched."""
        child.add_state_callback(self._child_changed)
        self._child_changed(child, JobState.NOT_STARTED, child.state)

    def _changed(self, job: Job, previous: JobState, new: JobState) -> None:
        if new.finished:
            self._notice(job, notice_text(job, new))

    def _child_changed(self, child: Job, previous: JobState, new: JobState) -> None:
        prompt, asked = child.prompt, child.asked
        if new is JobState.BLOCKED and prompt is not None and child.parent is not None:
            self._notice(child, notice_text(child.parent, new, prompt), asked)

    def _notice(self, job: Job, text: str, prompt_number: int | None = None) -> None:
        """Print a notice once: for a job's end, or for a child's Nth prompt (the callback
        and the check in ``_watch`` may both see it). A prompt older than one told is
        already answered: it is not told."""
        if not self.manager.notify:
            return
        app = self.app
        with self._lock:  # one decision with the prompt's start, which takes the queue
            if prompt_number is None:
                if job in self._ended:
                    return
                self._ended.add(job)
            else:
                if self._prompts_told.get(job, 0) >= prompt_number:
                    return
                self._prompts_told[job] = prompt_number
            if self.prompt_showing and app is not None and app.is_running and app.loop:
                app.loop.call_soon_threadsafe(self._print_above_prompt, text)
            else:
                self._queue.append(text)

    @staticmethod
    def _print_above_prompt(text: str) -> None:
        from prompt_toolkit.application import run_in_terminal

        def write() -> None:
            _write_terminal(text + "\n")

        run_in_terminal(write)


class NoNotices:
    """In a kernel (no terminal prompt) nothing is printed; widgets show the state."""

    def detach(self) -> None:
        pass


def attach(shell: Any, manager: JobManager) -> TerminalNotices | NoNotices:
    is_terminal = type(shell).__name__ == "TerminalInteractiveShell" or hasattr(shell, "pt_app")
    return TerminalNotices(shell, manager) if is_terminal else NoNotices()


def _write_terminal(text: str) -> None:
    """Write to the process's own stdout (the terminal), past any router or proxy; an
    interpreter started without one has nowhere to show a notice."""
    terminal = sys.__stdout__
    if terminal is not None:
        terminal.write(text)
        terminal.flush()
