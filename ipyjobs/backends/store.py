"""The job store: where detached jobs outlive the kernel that started them.

An embedded SQLite database (the standard library's ``sqlite3``, in WAL mode so that a
kernel and a shell command can read while another writes) in a per-user folder: the
folder is 0700, the database and every spool 0600, and a folder owned by someone else
or open to others is refused. It holds one row per detached job (parents and children:
ids, names, state, reason, command, times, location, the pid with its process start
time, the spool path, the scope and owner), how far each child's records were received,
and which live kernel holds the job (at most one: ``claim``). Nothing needs a server.

A process is named by its pid *and* its start time (``/proc/PID/stat``), so a pid the
system reused for another process is never taken for the job's (no signal goes to it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
import stat
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

from ..model.errors import JobError

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    instance_id TEXT PRIMARY KEY,
    id INTEGER NOT NULL,
    parent TEXT,                       -- the parent's instance_id; NULL for a parent
    name TEXT NOT NULL,
    job_type TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,                       -- the failure as text (its traceback's last line)
    command TEXT NOT NULL,
    location TEXT NOT NULL,
    scope TEXT NOT NULL,               -- JPY_SESSION_NAME, else the working directory
    owner INTEGER NOT NULL,            -- the uid that started it
    begin_time REAL,
    end_time REAL,
    pid INTEGER,
    pid_start INTEGER,                 -- the process's start time, in clock ticks
    spool TEXT,                        -- the folder of its spooled records
    received INTEGER NOT NULL DEFAULT 0,  -- how many records were received
    holder TEXT                        -- the kernel attached to it: "pid:start"
);
CREATE INDEX IF NOT EXISTS jobs_scope ON jobs (scope);
"""


#: Seconds an operation waits for a write that another process keeps open in the store
#: (SQLite's busy timeout) before it is refused (``c.JobManager.busy_timeout``).
BUSY_TIMEOUT = 5.0


class StoreError(JobError):
    """The job store cannot be used: its folder is not writable or not the user's, its
    disk is full, it is damaged, or another process holds it past the busy timeout."""


def store_error(path: str, error: BaseException, busy_timeout: float) -> StoreError:
    """One line that names the store, what is wrong with it and what to do (DESIGN §14)."""
    text = str(error)
    code = getattr(error, "errno", None)
    if "locked" in text or "busy" in text:
        return StoreError(
            f"the job store {path} is held by another process, which keeps a write open "
            f"(waited {busy_timeout:g} s): end that process (fuser {path} names it), or "
            "raise c.JobManager.busy_timeout"
        )
    if "full" in text or code == errno.ENOSPC:
        return StoreError(
            f"the job store {path} cannot be written: its disk is full; free space there, "
            "or use a store on another disk (c.JobManager.store_dir, ipyjobs --store)"
        )
    if "readonly" in text or "read-only" in text or code in (errno.EROFS, errno.EACCES):
        return StoreError(
            f"the job store {path} cannot be written: it is read-only; use a store you "
            "can write (c.JobManager.store_dir, ipyjobs --store)"
        )
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return StoreError(
            f"the job store {path} is damaged ({text}): move it aside and a new one is "
            "made (its jobs' spools stay in spools/)"
        )
    return StoreError(f"the job store {path} cannot be used: {text}")


@dataclass
class StoredJob:
    """One row of the store."""

    instance_id: str
    id: int
    name: str
    job_type: str
    state: str
    command: str
    location: str
    scope: str
    parent: str | None = None
    reason: str | None = None
    owner: int = -1
    begin_time: float | None = None
    end_time: float | None = None
    pid: int | None = None
    pid_start: int | None = None
    spool: str | None = None
    received: int = 0
    holder: str | None = None


_COLUMNS = [f.name for f in fields(StoredJob)]


def process_start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            after_name = stat_file.read().rpartition(b")")[2].split()
        return int(after_name[19])  # field 22 of stat(5): the third is after the name
    except (OSError, IndexError, ValueError):
        return None


def is_alive(pid: int | None, start: int | None) -> bool:
    """True if ``pid`` is still the process that started at ``start`` (not a zombie)."""
    if pid is None or start is None or process_start_time(pid) != start:
        return False
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat", "rb") as stat_file:
        return stat_file.read().rpartition(b")")[2].split()[0] != b"Z"
    return False


def this_process() -> str:
    """This process as a holder: "pid:start"."""
    return f"{os.getpid()}:{process_start_time(os.getpid())}"


def holder_alive(holder: str | None) -> bool:
    if not holder:
        return False
    pid, _, start = holder.partition(":")
    try:
        return is_alive(int(pid), int(start))
    except ValueError:
        return False


def _private_folder(path: str, make: bool = True) -> str:
    """``path`` made (0700) or checked: it must be the user's, and open to nobody else."""
    path = os.path.abspath(os.path.expanduser(path))
    try:
        if make:
            os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.stat(path)
    except OSError as error:
        raise StoreError(f"the job store folder {path} cannot be made: {error}") from None
    if info.st_uid != os.getuid():
        raise StoreError(f"the job store folder {path} belongs to another user: refused")
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise StoreError(
            f"the job store folder {path} is open to other users "
            f"(mode {stat.S_IMODE(info.st_mode):o}): refused; chmod 700 it"
        )
    return path


class JobStore:
    """The store in ``folder``: opened (and made) at once, so a bad folder is refused
    before any job exists.

    A store that cannot be written (a full or read-only disk) still opens, read-only, if
    it exists: what its jobs wrote can be listed and received with ``keep``; each write
    then raises a ``StoreError`` saying why (``cannot_write``). Every SQLite error comes
    out as one ``StoreError`` naming the store and what to do (``store_error``)."""

    def __init__(self, folder: str, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.folder = _private_folder(folder)
        self.path = os.path.join(self.folder, "jobs.sqlite3")
        self.spools = os.path.join(self.folder, "spools")
        self.busy_timeout = busy_timeout
        #: Why the store cannot be written (it was opened read-only), or None.
        self.cannot_write: StoreError | None = None
        self._lock = threading.Lock()
        if os.path.exists(self.path) and os.stat(self.path).st_uid != os.getuid():
            raise StoreError(f"the job store {self.path} belongs to another user: refused")
        try:
            if os.statvfs(self.folder).f_flag & os.ST_RDONLY:
                raise self._error(OSError(errno.EROFS, "read-only file system"))
            if not os.access(self.folder, os.W_OK | os.X_OK):
                raise StoreError(f"the job store folder {self.folder} is not writable")
            self._db = self._open()
            _private_folder(self.spools)
        except StoreError as error:
            if not os.path.exists(self.path):
                raise
            self._db = self._open_read_only(error)

    def _open(self) -> sqlite3.Connection:
        old_umask = os.umask(0o077)  # the database and its WAL files: 0600
        db = None
        try:
            db = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            return db
        except sqlite3.Error as error:
            if db is not None:
                db.close()
            raise self._error(error) from None
        finally:
            os.umask(old_umask)

    def _open_read_only(self, why: StoreError) -> sqlite3.Connection:
        """The store as it is, for reading: its WAL read through if SQLite may, else the
        database file alone (``immutable``: nothing else may change it meanwhile)."""
        for mode in ("ro", "ro&immutable=1"):
            uri = f"file:{urllib.parse.quote(self.path)}?mode={mode}"
            try:
                db = sqlite3.connect(
                    uri, uri=True, timeout=self.busy_timeout, check_same_thread=False
                )
                db.execute("SELECT 1 FROM jobs LIMIT 1").fetchall()
            except sqlite3.Error:
                continue
            self.cannot_write = why
            return db
        raise why

    def _error(self, error: BaseException) -> StoreError:
        return store_error(self.path, error, self.busy_timeout)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE), so that two kernels
        claiming a job one after the other see each other's claim."""
        if self.cannot_write is not None:
            raise self.cannot_write
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise self._error(error) from None
            try:
                yield self._db
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise self._error(error) from None
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise

    # -- rows -------------------------------------------------------------------------
    def add(self, job: StoredJob) -> None:
        if job.owner == -1:
            job.owner = os.getuid()
        names = ", ".join(_COLUMNS)
        marks = ", ".join("?" for _ in _COLUMNS)
        with self._transaction() as db:
            db.execute(
                f"INSERT INTO jobs ({names}) VALUES ({marks})",
                [getattr(job, column) for column in _COLUMNS],
            )

    def update(self, instance_id: str, **values: Any) -> None:
        unknown = set(values) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"no such column: {', '.join(sorted(unknown))}")
        assignments = ", ".join(f"{column} = ?" for column in values)
        with self._transaction() as db:
            db.execute(
                f"UPDATE jobs SET {assignments} WHERE instance_id = ?",
                [*values.values(), instance_id],
            )

    def get(self, instance_id: str) -> StoredJob | None:
        rows = self._select("WHERE instance_id = ?", (instance_id,))
        return rows[0] if rows else None

    def jobs(self, scope: str | None = None) -> list[StoredJob]:
        """Every row (of one scope), parents and children, in id order."""
        if scope is None:
            return self._select("ORDER BY id", ())
        return self._select("WHERE scope = ? ORDER BY id", (scope,))

    def highest_id(self) -> int:
        """The highest job id the store knows (0 when empty): new ids continue after it."""
        with self._lock:
            try:
                (value,) = self._db.execute("SELECT MAX(id) FROM jobs").fetchone()
            except sqlite3.Error as error:
                raise self._error(error) from None
        return value or 0

    def _select(self, where: str, parameters: tuple[Any, ...]) -> list[StoredJob]:
        with self._lock:
            try:
                rows = self._db.execute(
                    f"SELECT {', '.join(_COLUMNS)} FROM jobs {where}", parameters
                ).fetchall()
            except sqlite3.Error as error:
                raise self._error(error) from None
        return [StoredJob(*row) for row in rows]

    # -- holding ----------------------------------------------------------------------
    def claim(self, instance_id: str, holder: str | None = None) -> bool:
        """Attach ``holder`` (this process by default) to the job if no other live
        process holds it; True if it now holds it."""
        holder = holder or this_process()
        with self._transaction() as db:
            row = db.execute(
                "SELECT holder FROM jobs WHERE instance_id = ?", (instance_id,)
            ).fetchone()
            if row is None:
                return False
            if row[0] not in (None, holder) and holder_alive(row[0]):
                return False
            db.execute(
                "UPDATE jobs SET holder = ? WHERE instance_id = ? OR parent = ?",
                (holder, instance_id, instance_id),
            )
            return True

    def release(self, instance_id: str, holder: str | None = None) -> None:
        holder = holder or this_process()
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET holder = NULL WHERE (instance_id = ? OR parent = ?) "
                "AND holder = ?",
                (instance_id, instance_id, holder),
            )

    # -- spools, removal, pruning -------------------------------------------------------
    def new_spool(self, instance_id: str) -> str:
        """A private folder for one job's spooled records."""
        if self.cannot_write is not None:
            raise self.cannot_write
        folder = os.path.join(self.spools, instance_id)
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        except OSError as error:
            raise self._error(error) from None
        return _private_folder(folder)

    def remove(self, instance_id: str) -> None:
        """Delete the job's rows (its children's too) and its spool."""
        rows = [self.get(instance_id), *self._select("WHERE parent = ?", (instance_id,))]
        with self._transaction() as db:
            db.execute(
                "DELETE FROM jobs WHERE instance_id = ? OR parent = ?", (instance_id, instance_id)
            )
        for row in rows:
            if row is not None and row.spool and row.spool.startswith(self.spools + os.sep):
                shutil.rmtree(row.spool, ignore_errors=True)

    def prune(self, keep_finished_days: float, now: float | None = None) -> list[str]:
        """Remove parents that finished more than ``keep_finished_days`` days ago (0: keep
        every job); returns their instance ids."""
        if keep_finished_days <= 0:
            return []
        cutoff = (time.time() if now is None else now) - keep_finished_days * 86400
        old = self._select(
            "WHERE parent IS NULL AND end_time IS NOT NULL AND end_time < ? "
            "AND state IN ('Completed', 'Failed', 'Stopped')",
            (cutoff,),
        )
        for row in old:
            self.remove(row.instance_id)
        return [row.instance_id for row in old]
