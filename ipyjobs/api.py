"""The Python API: module functions over one default JobManager, and (from ``inside``) the
helpers a job's own code calls (``write_output``, ``write_progress``, ``current_job``,
``check_stop``)."""

from __future__ import annotations

import functools
import inspect
import threading
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from .execution import host
from .execution.inside import check_stop, current_job, start_thread, write_output, write_progress
from .manager.manager import JobManager
from .model.errors import JobError

__all__ = [
    "as_job",
    "check_stop",
    "current_job",
    "get_job",
    "get_manager",
    "receive_job",
    "remove_job",
    "resume_job",
    "send_input",
    "set_manager",
    "start_job",
    "start_thread",
    "stop_job",
    "suspend_job",
    "wait_job",
    "write_output",
    "write_progress",
]

_manager: JobManager | None = None
_manager_lock = threading.Lock()


def get_manager() -> JobManager:
    """The JobManager the module functions use; made on first use, configured from the
    running IPython shell's config when there is one."""
    global _manager
    with _manager_lock:
        if _manager is None:
            default = host.default()
            _manager = JobManager(parent=default.config_parent, host=default)
            try:
                _manager.attach_detached()  # what earlier kernels of this scope left
            except JobError as error:
                warnings.warn(f"ipyjobs: detached jobs are not listed: {error}", stacklevel=2)
        return _manager


def set_manager(manager: JobManager | None) -> JobManager | None:
    """Make ``manager`` the default (None: make a new one on next use); returns the old."""
    global _manager
    with _manager_lock:
        previous, _manager = _manager, manager
    return previous


def _delegate(name: str) -> Callable[..., Any]:
    method = getattr(JobManager, name)

    @functools.wraps(method)
    def function(*args: Any, **kwargs: Any) -> Any:
        return getattr(get_manager(), name)(*args, **kwargs)

    parameters = list(inspect.signature(method).parameters.values())[1:]  # no `self`
    function.__signature__ = inspect.signature(method).replace(parameters=parameters)  # type: ignore[attr-defined]
    return function


start_job = _delegate("start_job")
get_job = _delegate("get_job")
receive_job = _delegate("receive_job")
wait_job = _delegate("wait_job")
stop_job = _delegate("stop_job")
remove_job = _delegate("remove_job")
suspend_job = _delegate("suspend_job")
resume_job = _delegate("resume_job")
send_input = _delegate("send_input")


F = TypeVar("F", bound=Callable[..., Any])


def as_job(function: F | None = None, **job_options: Any) -> Any:
    """Add an ``as_job=False`` keyword to ``function`` (PowerShell's -AsJob switch):
    ``f(x, as_job=True)`` starts ``f(x)`` as a job and returns the Job. Job options
    (``name``, ``backend``...) can be given: ``@as_job(backend="process")``."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, as_job: bool = False, **kwargs: Any) -> Any:
            if as_job:
                return get_manager().start_job(func, *args, **job_options, **kwargs)
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate(function) if function is not None else decorate
