"""A detached job's notifications, sent by its supervisor (DESIGN §13).

A detached job outlives its kernel, so the kernel cannot be the one to say it ended: its
supervisor does, once the job's process ended, kernel or not. The kernel leaves what it
needs in the job's folder, ``FOLDER/notify`` (0600, in the user's 0700 store, like the
job's task): the URLs, the events, ``notify_after``, the parent's id and name, and where
it was started. A detached job runs one process and cannot ask for input, so its events
are its ends; the kernel never sends them (``manager/notifying.py``), so each is sent
once. A service that cannot be reached is one line in ``supervisor.log``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from typing import Any

from ..model.notification import JobFacts, compose
from ..model.state import JobState

NOTIFY = "notify"
log = logging.getLogger("ipyjobs")


def write_plan(folder: str, plan: Any, parent_id: int, name: str, scope: str) -> None:
    """What the supervisor needs to notify, beside the job's task (0600)."""
    content = {
        "urls": list(plan.urls),
        "events": list(plan.events),
        "after": plan.after,
        "id": parent_id,
        "name": name,
        "scope": scope,
        "host": socket.gethostname(),
        "begin": time.time(),
    }
    path = os.path.join(folder, NOTIFY)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        json.dump(content, file)


def read_plan(folder: str) -> dict[str, Any] | None:
    with contextlib.suppress(OSError, ValueError):
        with open(os.path.join(folder, NOTIFY)) as file:
            plan = json.load(file)
        if isinstance(plan, dict):
            return plan
    return None


def load(plan: dict[str, Any]) -> None:
    """Read the plan's URLs once, which loads Apprise and its plugins."""
    from ..execution.delivery import check_urls

    with contextlib.suppress(Exception):
        check_urls(plan.get("urls") or ())


def output_of(messages: list[tuple[Any, ...]]) -> str:
    """The text the job printed (stdout and stderr), from its spool's messages."""
    parts = []
    for message in messages:
        if message[0] == "items":
            for item in message[1]:
                if isinstance(item, str):
                    parts.append(item)
                elif len(item) == 2:
                    parts.append(item[1])
    return "".join(parts[-50:])


def notify_end(folder: str, state: str, reason: str | None, output: str) -> None:
    """Send the job's end, if the kernel asked for it and it is one of its events."""
    plan = read_plan(folder)
    if plan is None or state not in plan.get("events", ()):
        return
    seconds = time.time() - float(plan.get("begin") or time.time())
    if seconds < float(plan.get("after") or 0):
        return
    facts = JobFacts(
        id=int(plan["id"]),
        name=str(plan["name"]),
        state=JobState(state),
        seconds=seconds,
        reason=reason,
        output=output,
        host=str(plan.get("host", "")),
        scope=str(plan.get("scope", "")),
    )
    from ..execution.delivery import send

    try:
        failed = send(list(plan["urls"]), compose(facts))
    except Exception as error:  # Apprise gone since the start, a broken plan
        log.warning("ipyjobs: the job's notification was not sent: %s", type(error).__name__)
        return
    for url in failed:
        log.warning("ipyjobs: a notification could not be delivered to %s", url)
