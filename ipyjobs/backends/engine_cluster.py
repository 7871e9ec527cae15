"""The kernel's connection to an ipyparallel cluster, for remote jobs: which client to
use, which engines a request names, and where each engine runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..model.errors import EnginesUnavailableError, JobArgumentError

if TYPE_CHECKING:
    from ..manager.manager import JobManager

#: Seconds to wait for a cluster's controller to answer.
CONNECT_TIMEOUT = 5.0
#: Seconds to wait for the engines to say which host they run on.
HOST_TIMEOUT = 2.0
START_CLUSTER_HINT = "start one with `ipcluster start -n 4` (or ipyparallel.Cluster)"


def import_ipyparallel() -> Any:
    try:
        import ipyparallel
    except ImportError:
        raise EnginesUnavailableError(
            "remote jobs need ipyparallel: pip install 'ipyjobs[engines]'"
        ) from None
    return ipyparallel


def parse_engines(
    spec: Any, available: list[int], least_busy: Callable[[list[int]], int]
) -> list[int]:
    """``"all"``, ``"any"`` (the one ``least_busy`` picks), an id, ``"0,2"`` or a list of
    ids, checked against ``available``."""
    if isinstance(spec, str):
        text = spec.strip()
        if text.lower() == "all":
            return list(available)
        if text.lower() == "any":
            return [least_busy(available)]
        words = [word.strip() for word in text.split(",")]
        if not all(word.isdigit() for word in words):
            raise JobArgumentError(f"engines are 'all', 'any' or ids like 0,2, not {spec!r}")
        ids = [int(word) for word in words]
    elif isinstance(spec, int) and not isinstance(spec, bool):
        ids = [spec]
    elif isinstance(spec, list | tuple | range | set | frozenset) and all(
        isinstance(i, int) and not isinstance(i, bool) for i in spec
    ):
        ids = sorted(spec) if isinstance(spec, set | frozenset) else list(spec)
    else:
        raise JobArgumentError(f"engines are 'all', 'any' or ids like 0,2, not {spec!r}")
    if not ids:
        raise JobArgumentError("engines names no engine")
    unknown = [i for i in ids if i not in available]
    if unknown:
        have = ", ".join(map(str, available))
        raise JobArgumentError(
            f"no engine {', '.join(map(str, unknown))}: the cluster's engines are {have}"
        )
    if len(set(ids)) != len(ids):
        raise JobArgumentError(f"engines names an engine twice: {spec!r}")
    return ids


class ClusterConnection:
    """The client remote jobs use, and what is known of its engines."""

    def __init__(self, manager: JobManager) -> None:
        self.manager = manager
        self._client: Any = None  # a client ipyjobs connected itself, and from what
        self._client_source: Any = None
        self._retired: list[Any] = []
        self._hosts: dict[tuple[int, Any], str] = {}

    def client(self) -> Any:
        """The ipyparallel Client: ``JobManager.engines_client`` if it is one; else one
        ipyjobs connects itself, to that Cluster or to the cluster of ``engines_profile``
        and ``engines_cluster_id`` (again if they change)."""
        given = self.manager.engines_client
        if given is not None and not hasattr(given, "connect_client_sync"):
            if getattr(given, "_closed", False):  # ipyparallel's own flag, set by close()
                raise EnginesUnavailableError(
                    "JobManager.engines_client is a closed ipyparallel Client: set an open "
                    "one, or None to connect to the cluster of engines_profile"
                )
            return given
        source = given or ("profile", self.manager.engines_profile, self.manager.engines_cluster_id)
        if self._client is None or self._client_source != source:
            if self._client is not None:
                self._retired.append(self._client)  # its tasks may still be running
            self._client = self._connect(source)
            self._client_source = source
        return self._client

    def _connect(self, source: Any) -> Any:
        if not isinstance(source, tuple):
            return source.connect_client_sync()  # an ipyparallel.Cluster
        ipyparallel = import_ipyparallel()
        _, profile, cluster_id = source
        where = f"profile {profile!r}" + (f", cluster id {cluster_id!r}" if cluster_id else "")
        try:
            return ipyparallel.Client(
                profile=profile, cluster_id=cluster_id, timeout=CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError) as error:
            raise EnginesUnavailableError(
                f"no ipyparallel cluster is running ({where}): {START_CLUSTER_HINT}, "
                f"or set JobManager.engines_client ({type(error).__name__})"
            ) from None

    def close(self) -> None:
        for client in [*self._retired, self._client]:
            if client is not None:
                client.close()
        self._client, self._client_source, self._retired = None, None, []

    def engine_hosts(self, client: Any, engines: list[int]) -> dict[int, str]:
        """Each engine's host name, asked once per engine over its control channel (a
        ``usage_request``, which a busy engine answers too); an engine that does not
        answer in time is named without its host. Both calls are ipyparallel's private
        ones (``send_signal`` and ``abort`` use the same), so any failure here only
        leaves the host out."""
        uuids = getattr(client, "_engines", {})
        keys = {engine: (engine, uuids.get(engine)) for engine in engines}
        unknown = [engine for engine in engines if keys[engine] not in self._hosts]
        if unknown:
            try:
                replies = client._send_control_request(
                    targets=unknown, msg_type="usage_request", content={}, block=False
                ).result(timeout=HOST_TIMEOUT)
            except Exception:
                replies = []
            for engine, reply in zip(unknown, replies, strict=False):
                host = reply.get("content", {}).get("hostname")
                if host:
                    self._hosts[keys[engine]] = host
        return {
            engine: self._hosts[keys[engine]] for engine in engines if keys[engine] in self._hosts
        }

    def send(self, client: Any, engine: int, function: Any, argument: Any) -> Any:
        """Send ``function(argument)`` to ``engine``; returns the request's MessageFuture.

        This is what ``DirectView.apply_async`` does without the AsyncResult it builds
        around the request: a child Job already follows its task, and the AsyncResult
        (three Events, their Conditions, its futures and callbacks) was a third of the
        cost of sending one. ``send_apply_request`` is the client's public method that
        views use; the stream and the engine's identity are the ones ``client[engine]``
        would use (``_mux_stream`` and ``_build_targets``, private names of ipyparallel's
        client), read at each send: ``_build_targets`` also refuses an engine that has
        left the cluster, and nothing is cached that could outlive its client."""
        idents, _ = client._build_targets(engine)
        return client.send_apply_request(client._mux_stream, function, [argument], ident=idents[0])


def location(engine: int, host: str | None) -> str:
    return f"engine{engine}@{host}" if host else f"engine{engine}"
