"""ipyjobs: PowerShell-style background jobs for IPython and Jupyter.

Start work with ``start_job`` (or ``%job_start``, ``%%job``, ``stmt &`` once
``%load_ext ipyjobs`` ran), keep working, and collect its output with ``receive_job``.

``import ipyjobs`` is cheap: each name below is imported on first use (PEP 562), so a
process job's child, or a script that only defines jobs, loads no IPython, traitlets,
asyncio or ipywidgets. How the package is built: docs/architecture.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .execution import host as _host

if TYPE_CHECKING:  # what the lazy names are, for readers and type checkers
    from .api import (
        as_job,
        get_job,
        get_manager,
        receive_job,
        remove_job,
        resume_job,
        send_input,
        set_manager,
        start_job,
        stop_job,
        suspend_job,
        wait_job,
    )
    from .backends import register_backend
    from .backends.store import StoreError
    from .execution.inside import (
        check_stop,
        current_job,
        start_thread,
        write_output,
        write_progress,
    )
    from .manager.manager import JobManager
    from .model.errors import (
        DaskUnavailableError,
        EnginesUnavailableError,
        InvalidJobTargetError,
        InvalidStateError,
        JobArgumentError,
        JobError,
        JobNotFoundError,
        JobStateError,
        JobStopped,
        JobTimeoutError,
        NotifyError,
        StorageWarning,
    )
    from .model.job import Job
    from .model.records import Progress, Record, Stream
    from .model.state import JobState, JobStateInfo

__version__ = "0.1.0"

__all__ = [
    "DaskUnavailableError",
    "EnginesUnavailableError",
    "InvalidJobTargetError",
    "InvalidStateError",
    "Job",
    "JobArgumentError",
    "JobError",
    "JobManager",
    "JobNotFoundError",
    "JobState",
    "JobStateError",
    "JobStateInfo",
    "JobStopped",
    "JobTimeoutError",
    "NotifyError",
    "Progress",
    "Record",
    "StorageWarning",
    "StoreError",
    "Stream",
    "as_job",
    "check_stop",
    "current_job",
    "get_job",
    "get_manager",
    "receive_job",
    "register_backend",
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

#: The module that defines each public name, imported when the name is first used.
_MODULES = {
    "api": "as_job get_job get_manager receive_job remove_job resume_job send_input "
    "set_manager start_job stop_job suspend_job wait_job",
    "execution.inside": "check_stop current_job start_thread write_output write_progress",
    "model.errors": "DaskUnavailableError EnginesUnavailableError InvalidJobTargetError "
    "InvalidStateError JobArgumentError JobError JobNotFoundError JobStateError JobStopped "
    "JobTimeoutError NotifyError StorageWarning",
    "backends": "register_backend",
    "model.job": "Job",
    "manager.manager": "JobManager",
    "model.records": "Progress Record Stream",
    "model.state": "JobState JobStateInfo",
    "backends.store": "StoreError",
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names.split()}


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first use (PEP 562)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'ipyjobs' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups find it directly
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


def _shell_host() -> _host.Host:
    """The default host: the running IPython shell's (plain Python while none runs)."""
    from .ipython.extension import SHELL_HOST

    return SHELL_HOST


# The package is where the layers meet: it gives managers the front end's host, so
# that the manager and the API never import the front end (docs/architecture.md).
_host.set_default(_shell_host)


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext ipyjobs``."""
    from .ipython.extension import load_ipython_extension as load

    load(shell)


def unload_ipython_extension(shell: Any) -> None:
    """``%unload_ext ipyjobs``."""
    from .ipython.extension import unload_ipython_extension as unload

    unload(shell)
