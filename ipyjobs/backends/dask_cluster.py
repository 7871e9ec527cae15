"""The kernel's connection to a Dask cluster, for Dask jobs (DESIGN §15): which client to
use, and which workers a request names."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..model.errors import DaskUnavailableError, JobArgumentError

if TYPE_CHECKING:
    from ..manager.manager import JobManager

#: Seconds to wait for a scheduler to answer.
CONNECT_TIMEOUT = 5.0
HINT = (
    "set c.JobManager.dask_address to a scheduler's address ('tcp://host:8786'), or "
    "JobManager.dask_client to a distributed.Client"
)


def import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise DaskUnavailableError(
            "Dask jobs need distributed: pip install 'ipyjobs[dask]'"
        ) from None
    return distributed


def parse_workers(spec: Any, workers: dict[str, str]) -> list[tuple[str, str | None]]:
    """Each child's (location, worker address or None for "placed by Dask"), from
    ``"any"``, ``"all"``, or worker names or addresses (a list, or one, or "a,b")."""
    if isinstance(spec, str) and spec.strip().lower() == "any":
        return [("dask", None)]
    if isinstance(spec, str) and spec.strip().lower() == "all":
        return [(name, address) for address, name in sorted(workers.items(), key=_order)]
    if isinstance(spec, str):
        wanted = [word.strip() for word in spec.split(",") if word.strip()]
    elif isinstance(spec, list | tuple) and all(isinstance(w, str | int) for w in spec):
        wanted = [str(w) for w in spec]
    else:
        raise JobArgumentError(
            f"workers are 'any', 'all', or worker names or addresses, not {spec!r}"
        )
    if not wanted:
        raise JobArgumentError("workers names no worker")
    by_name = {name: address for address, name in workers.items()}
    chosen: list[tuple[str, str | None]] = []
    for word in wanted:
        address = word if word in workers else by_name.get(word)
        if address is None:
            have = ", ".join(name for _, name in sorted(workers.items(), key=_order))
            raise JobArgumentError(f"no worker {word!r}: the cluster's workers are {have}")
        chosen.append((workers[address], address))
    if len({address for _, address in chosen}) != len(chosen):
        raise JobArgumentError(f"workers names a worker twice: {spec!r}")
    return chosen


def _order(entry: tuple[str, str]) -> tuple[int, str]:
    """Workers in name order, numbers as numbers (LocalCluster names them 0, 1, ...)."""
    _, name = entry
    return (int(name), "") if name.isdigit() else (1 << 30, name)


class DaskConnection:
    """The client Dask jobs use: ``JobManager.dask_client`` if set, else one ipyjobs
    connects itself to ``dask_address`` (again if it changes), and closes at shutdown."""

    def __init__(self, manager: JobManager) -> None:
        self.manager = manager
        self._client: Any = None
        self._address = ""
        self._lock = threading.Lock()

    def client(self) -> Any:
        given = self.manager.dask_client
        if given is not None:
            if getattr(given, "status", "running") in ("closed", "closing"):
                raise DaskUnavailableError(
                    "JobManager.dask_client is a closed distributed.Client: set an open "
                    "one, or None to connect to c.JobManager.dask_address"
                )
            return given
        address = self.manager.dask_address
        if not address:
            raise DaskUnavailableError(f"no Dask cluster to run on: {HINT}")
        with self._lock:
            if self._client is None or self._address != address:
                self._client = self._connect(address)
                self._address = address
            return self._client

    def _connect(self, address: str) -> Any:
        distributed = import_distributed()
        try:
            return distributed.Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as error:
            raise DaskUnavailableError(
                f"no Dask scheduler answers at {address} ({type(error).__name__}): "
                f"start one (dask scheduler, or distributed.LocalCluster), or {HINT}"
            ) from None

    def workers(self, client: Any) -> dict[str, str]:
        """The cluster's workers: address -> name (the address when it has no name)."""
        try:
            info = client.scheduler_info()
        except Exception as error:  # the scheduler went away
            raise DaskUnavailableError(
                f"the Dask cluster does not answer ({type(error).__name__}: {error})"
            ) from None
        return {
            address: str(worker.get("name", address)) if worker.get("name") is not None else address
            for address, worker in info.get("workers", {}).items()
        }

    def threads(self, client: Any) -> int:
        info = client.scheduler_info()
        return sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()) or 1

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
