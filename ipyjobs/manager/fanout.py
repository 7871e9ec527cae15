"""Fan-out jobs (``each=``, DESIGN §10): one parent, one child per item, ``throttle`` at
a time.

The children of a list (anything with a length) are made at once, so their ids follow
the parent's and the table shows every item from the start, NotStarted until its turn.
A lazy iterable (a generator) is consumed only as children start when a throttle holds
them back: each child is made when its item is taken, and until the last item is taken
the parent counts one more child not started yet, so it does not finish early. A child
that ends (however it ends) lets the next one start, in item order.
"""

from __future__ import annotations

import collections
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..model.errors import JobArgumentError
from ..model.records import Stream
from ..model.state import JobState
from .starting import make_job

if TYPE_CHECKING:
    from ..backends import Backend, StartRequest
    from ..model.job import Job
    from .manager import JobManager


#: A location is the item itself when its text is this short, else ``item[i]``.
LABEL_LIMIT = 24


def item_label(item: Any, index: int) -> str:
    """A child's location: ``str(item)`` when short and on one line, else ``item[3]``."""
    try:
        text = str(item)
    except Exception:
        text = ""
    if text and len(text) <= LABEL_LIMIT and text.isprintable():
        return text
    return f"item[{index}]"


@dataclass
class FanOutItems:
    """The items of a fan-out: all of them (``eager``), or an iterator to take them from
    as children start (``lazy``)."""

    eager: list[Any] | None
    lazy: Iterator[Any] | None = None

    def where(self) -> str:
        """The parent's location: its children's, shortened."""
        if self.eager is None:
            return "(items as they come)"
        labels = [item_label(item, i) for i, item in enumerate(self.eager[:4])]
        if len(self.eager) <= 3:
            return ", ".join(labels)
        return f"{', '.join(labels[:3])}, … ({len(self.eager)} items)"


def fan_out_items(each: Iterable[Any], throttle: int | None) -> FanOutItems:
    """Check ``each`` before any job exists; materialize it unless it is lazy and a
    throttle will take it item by item."""
    if isinstance(each, str | bytes):
        raise JobArgumentError("each= takes the items to fan out over (a list), not a string")
    if not isinstance(each, Iterable):
        raise JobArgumentError(f"each= takes an iterable of items, not {type(each).__name__}")
    if isinstance(each, Sized) or throttle is None:
        items = list(each)
        if not items:
            raise JobArgumentError("each= has no items: there would be no child to run")
        return FanOutItems(items)
    return FanOutItems(None, iter(each))


class FanOut:
    """Launches a parent's children in item order, at most ``throttle`` running at once
    (None: all at once)."""

    def __init__(
        self,
        parent: Job,
        launch: Callable[[Job], None],
        throttle: int | None,
        lazy: Iterator[Any] | None,
        make_child: Callable[[int, Any], Job],
        launch_many: Callable[[list[Job]], None] | None = None,
    ) -> None:
        self.parent = parent
        self._launch = launch
        #: The backend's way to launch several children at once, if it has one.
        self._launch_many = launch_many
        self._throttle = throttle
        self._lazy = lazy
        self._make_child = make_child
        self._waiting: collections.deque[Job] = collections.deque(parent.child_jobs)
        self._index = itertools.count(len(parent.child_jobs))
        self._running = 0
        self._stopped = False
        self._lock = threading.RLock()  # a child may end while it is being launched

    def start(self) -> None:
        self._fill(first=True)

    def stop(self) -> None:
        """Take no more items (the parent is being stopped)."""
        with self._lock:
            self._stopped = True
            self._lazy = None
        if self.parent.expecting_children:
            self.parent.expecting_children = False
            self.parent.derive_state()

    def has_waiting(self) -> bool:
        """Whether a child may still be launched (a process lane stays for it)."""
        with self._lock:
            if self._stopped:
                return False
            while self._waiting and self._waiting[0].finished:
                self._waiting.popleft()  # stopped while it waited
            return bool(self._waiting) or self._lazy is not None

    def _next_child(self) -> Job | None:
        """The next child to launch, made from the next item if the items are lazy."""
        while self._waiting:
            child = self._waiting.popleft()
            if not child.finished:  # skip children stopped while they waited
                return child
        if self._lazy is None or self._stopped:
            return None
        try:
            item = next(self._lazy)
        except StopIteration:
            self._lazy = None
            self.parent.expecting_children = False
            self.parent.derive_state()
            return None
        return self._make_child(next(self._index), item)

    def _fill(self, first: bool = False) -> None:
        """Launch as many children as the throttle admits, together (a backend with
        ``launch_many`` hands a burst to its workers at once)."""
        batch: list[Job] = []
        failure: Exception | None = None
        with self._lock:
            while not self._stopped and not (self._throttle and self._running >= self._throttle):
                try:
                    child = self._next_child()
                except Exception as error:  # the user's generator raised
                    failure = error
                    break
                if child is None:
                    break
                self._running += 1
                batch.append(child)
        if self._throttle or self._lazy is not None:  # else none is held back for later
            for child in batch:
                child.add_state_callback(self._child_changed)
        if batch:
            self._launch_batch(batch, first)
        if failure is not None:
            with self._lock:
                self._failed_items(failure)

    def _launch_batch(self, batch: list[Job], first: bool) -> None:
        """A child that cannot start fails alone, unless it is the job's first: then
        nothing has started and the caller refuses the whole job."""
        if self._launch_many is None:
            for child in batch:
                try:
                    self._launch(child)
                except Exception as error:
                    if first:
                        raise
                    self._could_not_start(child, error)
                first = False
            return
        try:
            self._launch_many(batch)
        except Exception as error:
            if first:
                raise
            for child in batch:
                self._could_not_start(child, error)

    def _could_not_start(self, child: Job, error: Exception) -> None:
        child.records.add(Stream.ERROR, error, f"{child.name} could not start: {error}\n")
        child.records.collect()
        child.set_state(JobState.FAILED, error)

    def _failed_items(self, error: Exception) -> None:
        """The items' iterator raised: the parent fails with it once its children end."""
        self._lazy = None
        child = self._make_child(next(self._index), None)
        child.records.add(Stream.ERROR, error, f"the items of {self.parent.name} failed: {error}\n")
        child.records.collect()
        child.set_state(JobState.FAILED, error)
        self.parent.expecting_children = False
        self.parent.derive_state()

    def _child_changed(self, child: Job, previous: JobState, new: JobState) -> None:
        # (A finished child drops its callbacks itself: none to remove here.)
        if not new.finished:
            return
        with self._lock:
            self._running -= 1
        self._fill()


def make_fan_out(
    manager: JobManager,
    request: StartRequest,
    runner: Backend,
    items: FanOutItems,
    throttle: int | None,
    timeout: float | None,
) -> tuple[Job, FanOut]:
    """A fan-out's parent, listed, with the children of its items made (a list's all at
    once, ids in a row after the parent's; a lazy iterable's as they are taken), and the
    ``FanOut`` that launches them ``throttle`` at a time in item order (DESIGN §10)."""
    if throttle is None:
        throttle = getattr(runner, "fan_out_throttle", lambda request: None)(request)
    request.items = {}
    parent_id = manager.repository.reserve_ids(1)[0]
    limit = manager.text_memory_limit
    parent = make_job(manager, parent_id, request, runner, items.where(), limit)
    parent.count_children()  # from none: each child is counted as it is made
    manager.start_capture()

    def make_child(index: int, item: Any, child_id: int | None = None) -> Job:
        if child_id is None:
            (child_id,) = manager.repository.reserve_ids(1)
        label = item_label(item, index)
        child = make_job(manager, child_id, request, runner, label, limit, parent)
        assert request.items is not None
        request.items[child_id] = item
        if timeout is not None:
            manager.deadlines.limit(child, timeout)
        return child

    def make_listed_child(index: int, item: Any) -> Job:
        """A child a lazy fan-out makes after its parent was listed."""
        child = make_child(index, item)
        manager.repository.add_child(child)
        for listener in list(manager.child_listeners):
            listener(child)
        return child

    if items.eager is not None:
        ids = manager.repository.reserve_ids(len(items.eager))
        for index, (item, child_id) in enumerate(zip(items.eager, ids, strict=True)):
            make_child(index, item, child_id)
    else:
        parent.expecting_children = True
    manager.repository.add(parent)
    launch_many = getattr(runner, "launch_many", None)
    fan_out = FanOut(
        parent,
        lambda child: runner.launch(child, request),
        throttle,
        items.lazy,
        make_listed_child,
        None if launch_many is None else lambda children: launch_many(children, request),
    )
    return parent, fan_out
