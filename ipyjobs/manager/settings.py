"""The JobManager's settings: each one's default, help and check.

Kept apart from the manager's behaviour so that what a user can configure reads in one
place. ``JobManager`` inherits them, and traitlets reads ``c.JobManager.<name>`` for
inherited traits as for its own.
"""

from __future__ import annotations

from typing import Any

from traitlets import Any as AnyTrait
from traitlets import Bool, Float, Integer, List, Unicode, validate
from traitlets.config import Configurable

from ..backends.store import BUSY_TIMEOUT
from ..model.errors import JobArgumentError
from ..model.state import JobState

#: What notifies by default (DESIGN §13): the ends, and a job waiting for an answer.
NOTIFY_EVENTS = ["Completed", "Failed", "Stopped", "Blocked"]


class ManagerSettings(Configurable):
    """What ``c.JobManager`` configures."""

    default_backend = Unicode("thread", help="Backend used when none is named.").tag(config=True)
    notify = Bool(True, help="Print a notice in terminal IPython when a job finishes.").tag(
        config=True
    )
    update_interval = Float(
        0.1, help="Seconds between live widget updates of one job (coalescing)."
    ).tag(config=True)
    text_memory_limit = Integer(
        1 << 20,
        help="Characters of unreceived text kept in memory per job; more spills to a "
        "file in the job's temporary folder and is still received in full.",
    ).tag(config=True)
    stop_grace = Float(
        1.0, help="Seconds a job gets at each step of a stop before a firmer one."
    ).tag(config=True)
    widget_tail_lines = Integer(
        20, help="Lines of a job's latest output shown live in its notebook widget."
    ).tag(config=True)
    throttle_limit = Integer(
        0, help="Most thread jobs running at once; more wait as NotStarted (0: no limit)."
    ).tag(config=True)

    #: Not configurable: traitlets deep-copies config values, and a Client must not be
    #: copied. Set it on the manager: ``ipyjobs.get_manager().engines_client = client``.
    engines_client = AnyTrait(
        None,
        allow_none=True,
        help="The ipyparallel Client (or Cluster) remote jobs use; None: connect to "
        "the cluster of engines_profile and engines_cluster_id.",
    )
    engines_profile = Unicode(
        "default", help="IPython profile of the ipyparallel cluster remote jobs connect to."
    ).tag(config=True)
    engines_cluster_id = Unicode(
        "", help="Cluster id of that cluster ('' for the profile's default one)."
    ).tag(config=True)
    default_engines = Unicode(
        "all",
        help="Engines a remote job runs on when none are named: 'all', 'any' (one, "
        "the least busy) or ids like 0,2.",
    ).tag(config=True)

    #: Not configurable, as engines_client: set it on the manager.
    dask_client = AnyTrait(
        None,
        allow_none=True,
        help="The distributed.Client Dask jobs use; None: connect to dask_address.",
    )
    default_workers = Unicode(
        "any",
        help="Where a Dask job runs when no workers are named: 'any' (a worker Dask "
        "picks), 'all' (a child per worker), or worker names like 0,2.",
    ).tag(config=True)
    dask_address = Unicode(
        "",
        help="The address of the Dask scheduler Dask jobs run on ('tcp://host:8786').",
    ).tag(config=True)

    store_dir = Unicode(
        "",
        help="Folder of the job store, where detached jobs are listed and spooled ('': "
        "the folder ipyjobs in the IPython profile's). Made 0700; refused if another "
        "user's or open to others.",
    ).tag(config=True)
    busy_timeout = Float(
        BUSY_TIMEOUT,
        help="Seconds a job store operation waits for a write another process keeps open "
        "in the store, before it is refused with a StoreError.",
    ).tag(config=True)
    keep_finished_days = Float(
        30.0,
        help="Days a finished detached job stays in the store before it is pruned when a "
        "manager opens the store (0: until removed).",
    ).tag(config=True)

    @validate("update_interval", "stop_grace", "keep_finished_days", "busy_timeout", "notify_after")
    def _non_negative_float(self, proposal: Any) -> float:
        if proposal.value < 0:
            raise JobArgumentError(f"{proposal.trait.name} must be >= 0")
        return proposal.value

    @validate("text_memory_limit", "throttle_limit")
    def _non_negative_int(self, proposal: Any) -> int:
        if proposal.value < 0:
            raise JobArgumentError(f"{proposal.trait.name} must be >= 0")
        return proposal.value

    notify_urls = List(
        Unicode(),
        help="Notification URLs (Apprise's syntax: ntfy://, slack://, mailto://, json://, "
        "...) a job notifies when started with notify=True or --notify, and every job "
        "with notify_all. They carry tokens: never shown unmasked. Needs ipyjobs[notify].",
    ).tag(config=True)
    notify_events = List(
        Unicode(),
        default_value=NOTIFY_EVENTS,
        help="The states a notifying job notifies on: any of Completed, Failed, Stopped, Blocked.",
    ).tag(config=True)
    notify_after = Float(
        0.0,
        help="Seconds a job must have run for its events to notify (0: every job).",
    ).tag(config=True)
    notify_all = Bool(
        False,
        help="Every job notifies to notify_urls, unless started with notify=False.",
    ).tag(config=True)

    @validate("notify_urls")
    def _secret(self, proposal: Any) -> list[str]:
        from ..execution.delivery import SecretURL

        return [SecretURL(url) for url in proposal.value]

    @validate("notify_events")
    def _states(self, proposal: Any) -> list[str]:
        allowed = set(NOTIFY_EVENTS)
        wrong = [event for event in proposal.value if event not in allowed]
        if wrong:
            raise JobArgumentError(
                f"notify_events: {', '.join(map(repr, wrong))} is not one of "
                f"{', '.join(NOTIFY_EVENTS)}"
            )
        return [JobState(event).value for event in proposal.value]
