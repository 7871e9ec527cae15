"""ipyjobs: PowerShell-style background jobs for IPython and Jupyter.

Start work with ``start_job`` (or ``%job_start``, ``%%job``, ``stmt &`` once
``%load_ext ipyjobs`` ran), keep working, and collect its output with ``receive_job``.
"""

from .api import (
    as_job,
    check_stop,
    current_job,
    get_job,
    get_manager,
    receive_job,
    remove_job,
    resume_job,
    set_manager,
    start_job,
    start_thread,
    stop_job,
    suspend_job,
    wait_job,
    write_output,
    write_progress,
)
from .backends import register_backend
from .errors import (
    EnginesUnavailableError,
    InvalidJobTargetError,
    InvalidStateError,
    JobArgumentError,
    JobError,
    JobNotFoundError,
    JobStateError,
    JobStopped,
)
from .job import Job
from .manager import JobManager
from .records import Progress, Record, Stream
from .state import JobState, JobStateInfo

__version__ = "0.1.0"

__all__ = [
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
    "Progress",
    "Record",
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
    "set_manager",
    "start_job",
    "start_thread",
    "stop_job",
    "suspend_job",
    "wait_job",
    "write_output",
    "write_progress",
]


def load_ipython_extension(shell):
    """``%load_ext ipyjobs``."""
    from ._extension import load_ipython_extension as load

    load(shell)


def unload_ipython_extension(shell):
    """``%unload_ext ipyjobs``."""
    from ._extension import unload_ipython_extension as unload

    unload(shell)
