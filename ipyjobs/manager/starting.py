"""Starting a job: what it was asked, checked before anything exists (the target and its
arguments, a code string's options, a script's, the backend they choose), then the jobs
it makes (DESIGN §1, §5, §10).

Every mistake is a ``JobArgumentError`` (a ``UsageError`` in the magics) raised before an
id is reserved, so a refused start leaves no job behind.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..backends import StartRequest
from ..execution.host import Host
from ..execution.work import (
    CallWork,
    CodeWork,
    Snapshot,
    Work,
    compile_code,
    describe_call,
    script_work,
)
from ..model.errors import InvalidJobTargetError, JobArgumentError
from ..model.job import Job
from ..model.repository import is_pattern
from ..model.waiting import check_limit

if TYPE_CHECKING:
    from ..backends import Backend
    from .manager import JobManager


class _EachItem:
    def __repr__(self) -> str:
        return "item"


#: Where each item goes in a fan-out's command: ``fit(item, epochs=3)``.
EACH_ITEM = _EachItem()


def check_name(name: str | None) -> None:
    """A job's name is a non-empty string that reads as neither a pattern nor an id."""
    if name is None:
        return
    if not isinstance(name, str) or not name.strip():
        raise JobArgumentError(f"a job name is a non-empty string, not {name!r}")
    if is_pattern(name) or name.isdigit():
        raise JobArgumentError(
            f"job name {name!r} would read as a pattern or an id; choose another"
        )


def check_code_call(
    call_args: tuple[Any, ...],
    args: Iterable[Any] | None,
    kwargs: Mapping[str, Any] | None,
    more_kwargs: Mapping[str, Any],
    each: Iterable[Any] | None,
) -> None:
    """``start_job`` with a code string: it takes no arguments, and names no item."""
    if call_args or args or kwargs or more_kwargs:
        raise JobArgumentError("a code string takes no arguments; use a function")
    if each is not None:
        raise JobArgumentError(
            "a code string's fan-out names its item: start_code(code, each=items, "
            "each_name='x') or %job_start --each x CODE"
        )


def script_work_of(
    target: Any,
    call_args: tuple[Any, ...],
    kwargs: Mapping[str, Any] | None,
    more_kwargs: Mapping[str, Any],
    each: Iterable[Any] | None,
    file_path: str | os.PathLike[str],
    args: Iterable[Any] | None,
) -> tuple[Work, str]:
    """``file_path=``: the script's work and command; it takes ``args=`` only."""
    if target is not None or call_args or kwargs or more_kwargs or each is not None:
        raise JobArgumentError("file_path= runs a script: it takes args=, not a target or each=")
    return script_work(file_path, args)


def call_work_of(
    target: Callable[..., Any] | None,
    call_args: tuple[Any, ...],
    args: Iterable[Any] | None,
    kwargs: Mapping[str, Any] | None,
    more_kwargs: Mapping[str, Any],
    each: Iterable[Any] | None,
) -> tuple[CallWork, str]:
    """A callable's work and its command as the user wrote the call."""
    if target is None:
        raise InvalidJobTargetError("start_job needs a callable, a code string or file_path=")
    if not callable(target):
        raise InvalidJobTargetError(
            f"a job runs a callable or a string of code, not {type(target).__name__}"
        )
    if args is not None and call_args:
        raise JobArgumentError("give the target's arguments either in the call or as args=")
    positional = tuple(args) if args is not None else call_args
    keywords = {**(kwargs or {}), **more_kwargs}
    # A fan-out's command shows where each item goes: fit(item, epochs=3).
    shown = (EACH_ITEM, *positional) if each is not None else positional
    return CallWork(target, positional, keywords), describe_call(target, shown, keywords)


def check_code_options(
    source: Any, each: Iterable[Any] | None, each_name: str | None, first_line: Any
) -> None:
    """``start_code``'s options, checked before the code is compiled."""
    if not isinstance(source, str) or not source.strip():
        raise JobArgumentError("there is no code to run")
    if (each is None) != (each_name is None):
        raise JobArgumentError("each= and each_name= go together in a code job")
    if each_name is not None and not each_name.isidentifier():
        raise JobArgumentError(f"each_name must be a Python name, not {each_name!r}")
    if isinstance(first_line, bool) or not isinstance(first_line, int) or first_line < 1:
        raise JobArgumentError(f"first_line is a line number >= 1, not {first_line!r}")


def code_work_of(
    source: str,
    host: Host,
    snapshot_of: Mapping[str, Any] | None,
    source_name: str | None,
    first_line: int,
    each_name: str | None,
) -> CodeWork:
    """The code compiled (a syntax error is raised now), reading the live user namespace,
    or with ``snapshot_of`` a copy of the names it reads, taken now from that mapping and
    then the user namespace (``$using:``)."""
    work = compile_code(source, host.user_namespace, host.transform, source_name, first_line)
    if each_name is not None:  # each child has its item: the user's list is not copied
        work.names = work.names - {each_name}
    if snapshot_of is not None:
        live = host.user_namespace()
        work.namespace = Snapshot(
            {
                name: snapshot_of[name] if name in snapshot_of else live[name]
                for name in work.names
                if name in snapshot_of or name in live
            }
        )
    return work


def choose_backend(
    request: StartRequest,
    backend: str | None,
    each: Iterable[Any] | None,
    throttle: int | None,
    timeout: float | None,
) -> str | None:
    """The backend a start runs on (None: the manager's default), once its fan-out,
    throttle, time limit and ``detach`` agree with one another."""
    if not isinstance(request.detach, bool):
        raise JobArgumentError(f"detach is True or False, not {request.detach!r}")
    check_limit(timeout)
    if throttle is not None and (
        isinstance(throttle, bool) or not isinstance(throttle, int) or throttle < 1
    ):
        raise JobArgumentError(f"throttle is a number of children >= 1, not {throttle!r}")
    if throttle is not None and each is None:
        raise JobArgumentError("throttle= limits a fan-out: it needs each=")
    if request.detach:
        if backend not in (None, "process", "detached") or request.engines is not None:
            raise JobArgumentError(
                "detach=True runs a process job: it cannot run on the "
                f"{backend or 'engines'} backend"
            )
        if request.workers is not None:
            raise JobArgumentError("detach=True runs a process job: it cannot run on Dask")
        if each is not None:
            raise JobArgumentError("a detached job runs one process: it cannot fan out")
        return "detached"
    if backend is None and request.engines is not None:
        return "engines"  # naming engines asks for a remote job
    if backend is None and request.workers is not None:
        return "dask"  # naming Dask workers asks for a Dask job
    return backend


def make_job(
    manager: JobManager,
    job_id: int,
    request: StartRequest,
    runner: Backend,
    location: str,
    memory_limit: int,
    parent: Job | None = None,
) -> Job:
    """A job of ``request`` at ``location`` (a child, given its ``parent``), owned by
    ``manager``; not listed yet."""
    job = Job(
        job_id,
        name=request.name if parent is None else None,
        job_type=runner.job_type,
        command=request.command,
        location=location,
        parent=parent,
        memory_limit=memory_limit,
    )
    job.controller = manager
    return job


def make_family(
    manager: JobManager, request: StartRequest, runner: Backend, timeout: float | None
) -> Job:
    """The parent and a child per location the backend gives (one, ``localhost``, for a
    local job), ids in a row, listed; their time limit set, nothing launched yet."""
    locations = runner.locations(request)
    ids = manager.repository.reserve_ids(1 + len(locations))
    limit = manager.text_memory_limit  # a trait: read once, not per job
    parent = make_job(manager, ids[0], request, runner, ", ".join(locations), limit)
    for child_id, location in zip(ids[1:], locations, strict=True):
        make_job(manager, child_id, request, runner, location, limit, parent)
    if len(parent.child_jobs) > 1:
        parent.count_children()
    manager.start_capture()
    manager.repository.add(parent)
    if timeout is not None:
        for child in parent.child_jobs:
            manager.deadlines.limit(child, timeout)
    return parent
