"""One Dask job's task as the kernel follows it (``backends/dask.py``, DESIGN §15): its
events kept by number until they can be taken in order, how it ended, and how far up
the stop ladder (``dask_stops``) it is."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..model.job import Job


@dataclass(eq=False)
class FollowedTask:
    """One child job's task, as the kernel follows it."""

    job: Job
    key: str
    future: Any
    client: Any
    placed: str | None = None  # the address of the worker it is pinned to, if any
    worker: str | None = None  # the address it runs at, once it said so
    events: dict[int, tuple[str, Any]] = field(default_factory=dict)
    next_event: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(init=False)
    stop_step: int = -1  # the ladder's last step taken
    stop_next: float = 0.0
    done: bool = False  # its last event came
    ended: bool = False  # its job was ended (by its last event, or by its future)
    outcome: Any = None  # what that event carried (None: fetch the result)
    lost: str | None = None  # the address of the worker it was lost with
    lost_name: str | None = None  # that worker's name
    lost_waiting: bool = False  # lost before it began (pinned to a worker that left)
    watcher: Any = None  # what waits for its future in the client's loop (kept alive)
    restarted: str | None = None  # the worker restarted to stop it

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)
