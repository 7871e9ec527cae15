"""``python -m ipyjobs`` (the console script ``ipyjobs``): detached jobs from a shell with
no kernel, with the magics' tables and refs.

    ipyjobs list [--all]          the jobs of this scope (--all: every scope)
    ipyjobs receive [--keep] REF  print what the job produced since it was last received
    ipyjobs wait REF              wait until it ends
    ipyjobs stop REF              stop it
    ipyjobs suspend REF           suspend it (SIGSTOP), until resumed
    ipyjobs resume REF            let it run on
    ipyjobs remove REF            forget it, with its spool
    ipyjobs notify URL [MESSAGE]  send a test notification (Apprise's URLs; DESIGN §13)

The scope is ``JPY_SESSION_NAME`` when set, else the working directory, as in a kernel;
the store is the kernel's default one (the IPython profile's), or ``--store DIR``. A job
that a live kernel holds can be listed and received with ``--keep`` only.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .backends.store import BUSY_TIMEOUT, JobStore, StoredJob, holder_alive, is_alive
from .execution.host import PLAIN
from .execution.resources import process_stopped
from .model.errors import JobError
from .model.formatting import COLUMNS, job_row, one_line, text_table


def _state(row: StoredJob) -> str:
    """The state a listing shows: a running job no live kernel holds is Disconnected (or
    Failed, if its process is gone: the next kernel to attach it says how); one whose
    process is stopped is Suspended, as the next kernel finds it, since it waits for a
    resume, not for a kernel."""
    if row.state in ("Completed", "Failed", "Stopped") or holder_alive(row.holder):
        return row.state
    if row.pid is None:
        return "Disconnected"
    if not is_alive(row.pid, row.pid_start):
        return "Failed"
    return "Suspended" if process_stopped(row.pid) else "Disconnected"


def _has_more_data(row: StoredJob) -> bool:
    path = os.path.join(row.spool or "", "records")
    return os.path.exists(path) and os.path.getsize(path) > row.received


def list_jobs(store: JobStore, scope: str | None) -> str:
    """The Get-Job table of the store's parents (of ``scope``, or all with a Scope)."""
    rows = store.jobs(scope)
    children = {row.parent: row for row in rows if row.parent is not None}
    parents = [row for row in rows if row.parent is None]
    table = []
    for row in parents:
        child = children.get(row.instance_id, row)
        cells = [
            str(row.id),
            row.name,
            row.job_type,
            _state(child),
            str(_has_more_data(child)),
            row.location,
            one_line(row.command),
        ]
        table.append([*cells, row.scope] if scope is None else cells)
    if not table:
        return "No jobs."
    return text_table([*COLUMNS, "Scope"] if scope is None else list(COLUMNS), table)


def notify(url: str, message: str | None) -> int:
    """Send one notification now, and say whether it was delivered (the URL masked)."""
    import socket

    from .execution.delivery import check_urls, masked, send
    from .model.notification import Notification

    try:
        (checked,) = check_urls([url])
    except JobError as error:
        print(f"ipyjobs: {error}", file=sys.stderr)
        return 2
    body = message or f"A test notification from ipyjobs on {socket.gethostname()}."
    if send([checked], Notification("ipyjobs test", body, "info")):
        print(
            f"ipyjobs: not delivered to {masked(url)} (the service refused it or was not reached)",
            file=sys.stderr,
        )
        return 1
    print(f"Delivered to {masked(url)}.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ipyjobs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", help="the job store's folder (default: the IPython profile's)")
    parser.add_argument(
        "--busy-timeout",
        type=float,
        default=BUSY_TIMEOUT,
        metavar="S",
        help="seconds to wait for a write another process keeps open in the store "
        f"(default {BUSY_TIMEOUT:g})",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="the jobs of this scope")
    listing.add_argument("--all", action="store_true", help="every scope, with a Scope column")
    receiving = commands.add_parser("receive", help="print what a job produced")
    receiving.add_argument("-k", "--keep", action="store_true", help="keep it to receive again")
    for name, text in (
        ("wait", "wait until a job ends"),
        ("stop", "stop a job"),
        ("suspend", "suspend a job until it is resumed"),
        ("resume", "let a suspended job run on"),
        ("remove", "forget a job, with its spool"),
    ):
        commands.add_parser(name, help=text).add_argument("ref")
    receiving.add_argument("ref")
    notifying = commands.add_parser("notify", help="send a test notification")
    notifying.add_argument("url", help="where to (Apprise's syntax: ntfy://, mailto://, ...)")
    notifying.add_argument("message", nargs="?", help="what to say (default: a test line)")
    args = parser.parse_args(argv)
    if args.command == "notify":
        return notify(args.url, args.message)

    from .backends.followed import scope
    from .manager.manager import JobManager

    folder = args.store or os.path.join(PLAIN.profile_dir(), "ipyjobs")
    try:
        if args.command == "list":
            if not os.path.exists(os.path.join(folder, "jobs.sqlite3")):
                print("No jobs.")
                return 0
            print(list_jobs(JobStore(folder, args.busy_timeout), None if args.all else scope()))
            return 0
        manager = JobManager(
            host=PLAIN, store_dir=folder, stop_grace=1.0, busy_timeout=args.busy_timeout
        )
        try:
            manager.attach_detached()
            ref = int(args.ref) if args.ref.isdigit() else args.ref
            if args.command == "receive":
                for value in manager.receive_job(ref, keep=args.keep):
                    print(repr(value))
            elif args.command == "wait":
                manager.wait_job(ref)
                print(text_table(COLUMNS, [job_row(job) for job in manager.get_job(ref)]))
            elif args.command in ("stop", "suspend", "resume"):
                getattr(manager, f"{args.command}_job")(ref)
                print(text_table(COLUMNS, [job_row(job) for job in manager.get_job(ref)]))
            else:
                manager.remove_job(ref)
        finally:
            manager.shutdown()
    except JobError as error:
        print(f"ipyjobs: {error}", file=sys.stderr)
        return 1
    return 0
