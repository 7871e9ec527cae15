"""The exceptions ipyjobs raises, so callers can catch each kind of mistake by type.

Every user mistake is a ``JobError`` subclass that also derives from the matching built-in
(``LookupError``, ``TypeError``, ``ValueError``), so generic handlers keep working. The
magics turn any ``JobError`` into a one-line ``UsageError``.
"""

from __future__ import annotations

from typing import Any

from .records import Stream


class JobError(Exception):
    """Base class of every error ipyjobs raises for a user mistake."""


class JobNotFoundError(JobError, LookupError):
    """A ref (id, name, pattern or location) matched no job."""

    def __str__(self) -> str:  # LookupError would repr() the message otherwise
        return str(self.args[0]) if self.args else ""


class InvalidJobTargetError(JobError, TypeError):
    """``start_job`` was given something that is neither a callable nor a code string."""


class JobArgumentError(JobError, ValueError):
    """An argument has a bad value or combination (negative timeout, wait with keep...)."""


class NotifyError(JobArgumentError):
    """A notification that cannot be sent as asked: a URL Apprise cannot read, no URL,
    or Apprise not installed (``pip install 'ipyjobs[notify]'``). The URL is masked."""


class InvalidStateError(JobArgumentError):
    """A state name that is not one of ``JobState``'s."""


class EnginesUnavailableError(JobError):
    """Remote jobs were asked for, but there is no ipyparallel, no cluster or no engine."""


class DaskUnavailableError(JobError):
    """Dask jobs were asked for, but there is no ``distributed``, no cluster or no worker."""


class JobStateError(JobError):
    """The operation does not fit the job's state (removing a running job, suspending a
    thread job, asking a stopped job for its result)."""


class JobStopped(BaseException):
    """Raised inside a job's thread to stop it.

    A ``BaseException`` (like ``KeyboardInterrupt``) so that ``except Exception`` in user
    code does not swallow a stop request.
    """


class JobTimeoutError(TimeoutError):
    """The reason of a job stopped because it ran past its ``timeout``: the job ends
    Failed with this, naming the limit."""


class StorageWarning(UserWarning):
    """What a job's storage lost or could not keep (a full disk, a spool deleted under a
    running job), recorded as a warning in the job: the job goes on (DESIGN §14)."""


def storage_warning(job: Any, message: str) -> None:
    """Record ``message`` in ``job`` as a ``StorageWarning``, in order with its output."""
    warning = StorageWarning(message)
    job.records.add(Stream.WARNING, warning, f"StorageWarning: {message}\n")
    job.records.collect()
