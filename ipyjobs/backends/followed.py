"""The kernel's side of one detached child (``detached``): its spool, read through a file
held open, its reserved end, its process (named by pid and start time), its row in the
job store, and what is said once, as a warning in the job, when its storage fails: a
store that cannot be written, a spool deleted or cut short under it (DESIGN §14).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..execution.resources import process_stopped
from ..model.errors import storage_warning
from ..model.state import JobState
from . import detached_child
from .spool import SpoolReader, open_end
from .store import JobStore, StoreError, is_alive

if TYPE_CHECKING:
    from ..model.job import Job


class EndedElsewhere(RuntimeError):
    """How a detached job failed, as the job store recorded it (the exception itself was
    received by an earlier kernel)."""


def scope() -> str:
    """The scope detached jobs are listed in: the notebook, as the server names it in
    ``JPY_SESSION_NAME``, else the working directory."""
    return os.environ.get("JPY_SESSION_NAME") or os.getcwd()


class Followed:
    """The kernel's side of one detached child."""

    def __init__(self, job: Job, folder: str, offset: int = 0, holding: bool = True) -> None:
        self.job = job
        self.folder = folder
        self.reader = SpoolReader(os.path.join(folder, detached_child.RECORDS), offset)
        self.reader.open()  # held open: a spool deleted under the job is still read
        #: Its reserved end (see ``spool``): how it ended when the spool could not say.
        self.end = open_end(os.path.join(folder, detached_child.END))
        #: What was said once of its storage (a store that cannot be written, a spool
        #: deleted or truncated): each is said once, as a warning in the job.
        self.said: set[str] = set()
        #: The spool offset of what is in the job's buffer; with ``lock`` held, it and
        #: the buffer change together, so what a receive took maps to an offset.
        self.loaded = offset
        self.lock = threading.Lock()
        #: False when another live kernel holds the job: this one only lists it.
        self.holding = holding
        self.holder: str | None = None
        #: Why this kernel only lists the job although no other kernel holds it: the
        #: store cannot be written (a full or read-only disk).
        self.unwritable: StoreError | None = None
        self.pid: int | None = None
        self.pid_start: int | None = None
        self.finished = threading.Event()

    def alive(self) -> bool:
        return is_alive(self.pid, self.pid_start)

    def say_once(self, what: str, message: str) -> None:
        if what not in self.said:
            self.said.add(what)
            storage_warning(self.job, message)

    def close(self) -> None:
        """Its files, once nothing more will be read from them."""
        self.reader.close()
        if self.end >= 0:
            os.close(self.end)
            self.end = -1

    def signal(self, signum: int) -> bool:
        """Signal the job's process; False once it is gone (nothing left to signal). True
        while it is starting (its pid not spooled yet): a later step of a stop reaches it."""
        if self.pid is None:
            return True
        if not self.alive():  # the pid is still the job's process: its start time matches
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)
        return True

    def mark_received(self, store: JobStore) -> None:
        """When a receive removes a child's records, the store notes the spool offset
        of what it had loaded: a later kernel receives only what comes after. A crash
        between the receive and this note receives those records again (at least once,
        never lost)."""
        child = self.job

        def taken() -> None:
            self.write_row(lambda: store.update(str(child.instance_id), received=self.loaded))

        child.records.on_take = taken

    def write_row(self, write: Callable[[], object]) -> None:
        """Write a held job's row. A store that cannot be written (a full disk, a lock
        held past ``busy_timeout``) is said once, as a warning in the job, which goes on
        in this kernel: a later kernel may find its row behind (DESIGN §14)."""
        if not self.holding:
            return
        try:
            write()
        except StoreError as error:
            self.say_once("store", f"{error}; {self.job.name} goes on in this kernel")

    def check_spool(self) -> None:
        """Say once, in the job, what happened to its spool under it."""
        reader = self.reader
        if reader.truncated_at is not None:
            self.say_once(
                "truncated",
                f"{self.job.name}'s spool {reader.path} was cut short while it ran: "
                "what it had written before is lost to a later kernel or shell",
            )
        if reader.deleted:
            self.say_once(
                "deleted",
                f"{self.job.name}'s spool {reader.path} was deleted while it ran: this "
                "kernel reads it to the end, but no later kernel or shell can",
            )

    def live_state(self) -> JobState:
        """Running, or Suspended when its process is stopped: suspended, maybe by an
        earlier kernel (a stopped process still says it runs in its spool)."""
        pid = self.pid
        stopped = pid is not None and self.alive() and process_stopped(pid)
        return JobState.SUSPENDED if stopped else JobState.RUNNING


def record_state(store: JobStore, job: Job, state: JobState, reason: Any = None) -> None:
    """The child's state, and its parent's (a local job's parent mirrors its one
    child), as the store lists them."""
    row = store.get(str(job.instance_id))
    if row is None:
        raise StoreError(
            f"{job.name}'s row in the job store {store.path} was deleted while it ran: no "
            "later kernel or shell will list it"
        )
    if JobState(row.state).finished:
        return  # a finished row keeps how and when it ended: a replay must not move it
    text = f"{type(reason).__name__}: {reason}" if reason is not None else None
    end = time.time() if state.finished else None
    for member in (job, job.parent):
        if member is not None:
            store.update(str(member.instance_id), state=state.value, reason=text, end_time=end)
