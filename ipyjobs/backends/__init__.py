"""The backends run child jobs (threads, processes, engines, detached with the store and
spool); they import execution and the model, never the manager or a front end.

Each is a small class behind one protocol, so new job types plug in with
``register_backend`` (PowerShell's "derive from Job" extensibility)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..model.errors import JobArgumentError

if TYPE_CHECKING:
    from ..execution.work import Work
    from ..manager.manager import JobManager
    from ..model.job import Job


@dataclass
class StartRequest:
    """Everything ``start_job`` was asked, checked and compiled, before any id is used."""

    work: Work
    command: str
    name: str | None = None
    engines: Any = None
    cwd: str | None = None
    using: list[str] = field(default_factory=list)
    #: ``detach=True``: a process job that outlives the kernel (the "detached" backend).
    detach: bool = False
    #: What a backend's ``check`` prepared for its ``launch`` (a pickled payload...).
    prepared: dict[str, Any] = field(default_factory=dict)
    #: A fan-out (``each=``): each child's item, by child id, until it is launched; and
    #: the name a code job's item is bound to.
    items: dict[int, Any] | None = None
    each_name: str | None = None
    #: ``workers=``: where a Dask job's children run ("any", "all", or names).
    workers: Any = None
    #: Where and when the job notifies (``manager/notifying.NotifyPlan``), or None.
    notify: Any = None

    def item_of(self, child: Job) -> tuple[bool, Any]:
        """(True, the child's item) in a fan-out, else (False, None); the request lets go
        of the item, so a finished child's item is not kept alive by it."""
        if self.items is None:
            return False, None
        return True, self.items.pop(child.id)

    def work_for(self, child: Job) -> Work:
        """The work ``child`` runs: the request's, for its item in a fan-out."""
        fanned, item = self.item_of(child)
        return self.work.for_item(item, self.each_name) if fanned else self.work


class Backend(Protocol):
    """Runs the children of jobs of one ``job_type``."""

    name: str
    job_type: str
    #: True if a NotStarted child may already be running where it was sent, so a stop
    #: goes through Stopping and the backend says when it is Stopped. A backend without
    #: the attribute is taken to say False.
    confirms_stops: bool

    def check(self, request: StartRequest) -> None:
        """Raise a ``JobError`` for a request this backend cannot run (no job exists yet)."""

    def locations(self, request: StartRequest) -> list[str]:
        """One child job is made per location."""

    def launch(self, child: Job, request: StartRequest) -> None:
        """Start the work of ``child`` (NotStarted) and set ``child.runner``. What
        arrives in ``child.records.pending`` is collected into records by the backend
        (``child.records.collect()`` as it takes a batch in) or, for writes from threads
        it does not follow, by ``manager.collector.watch(child)``."""

    # Optional: ``launch_many(children, request)`` launches several children of one
    # fan-out at once (the thread backend queues them together for its workers; Dask
    # submits them as one graph), ``stop_many(children)`` stops the Stopping children
    # of one job together (Dask), and ``fan_out_throttle(request)`` gives a fan-out's
    # default throttle (None: no limit held by ipyjobs).

    def stop(self, child: Job) -> None:
        """Make a Stopping child stop; the cooperative flag is already set."""

    def suspend(self, child: Job) -> None: ...
    def resume(self, child: Job) -> None: ...

    def answer(self, child: Job, text: str, echo: bool) -> None:
        """Answer a Blocked child's prompt (``send_input``); a backend whose jobs never
        ask raises ``JobStateError``."""

    def shutdown(self) -> None:
        """Release threads and processes; running jobs were stopped before."""


BackendFactory = Callable[["JobManager"], Backend]
_factories: dict[str, BackendFactory] = {}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make ``backend=name`` available to every JobManager."""
    _factories[name] = factory


def backend_names() -> list[str]:
    return sorted(_factories)


def create_backend(name: str, manager: JobManager) -> Backend:
    try:
        factory = _factories[name]
    except KeyError:
        known = ", ".join(backend_names())
        raise JobArgumentError(f"unknown backend {name!r}; available: {known}") from None
    return factory(manager)


def _thread_backend(manager: JobManager) -> Backend:
    from .thread import ThreadBackend

    return ThreadBackend(manager)


def _process_backend(manager: JobManager) -> Backend:
    from .process import ProcessBackend

    return ProcessBackend(manager)


def _detached_backend(manager: JobManager) -> Backend:
    from .detached import DetachedBackend

    return DetachedBackend(manager)


def _dask_backend(manager: JobManager) -> Backend:
    from .dask import DaskBackend

    return DaskBackend(manager)


def _engines_backend(manager: JobManager) -> Backend:
    from .engines import EnginesBackend

    return EnginesBackend(manager)


register_backend("thread", _thread_backend)
register_backend("process", _process_backend)
register_backend("engines", _engines_backend)
register_backend("dask", _dask_backend)
register_backend("detached", _detached_backend)
