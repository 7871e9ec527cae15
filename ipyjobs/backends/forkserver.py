"""ipyjobs' own forkserver: process jobs are forked from a server that ipyjobs starts,
preloaded with what a child needs, and stops when the last JobManager using it shuts down.

multiprocessing's forkserver is one per interpreter, and once it runs its preload list can
no longer change: if the user's code (or Python 3.14, where it is Linux's default start
method) started it first, every job's child imported ipyjobs, cloudpickle and all they
need itself, about 20 times the cost of a bare forkserver ``Process``. So ipyjobs keeps a
``multiprocessing.forkserver.ForkServer`` of its own, and a ``Popen`` that asks it, not
the shared one, for each child. The child is told nothing of the user's ``__main__``: the
job's code travels pickled by value, so the child never re-runs the user's script.

The resource tracker stays multiprocessing's (one per interpreter, as its fd is passed
to every child): ipyjobs stops it only if ipyjobs started it and nothing else of
multiprocessing is in use (see ``release``).
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import os
import sys
import threading
from multiprocessing import forkserver, popen_forkserver, reduction, resource_tracker, spawn, util
from multiprocessing.context import ForkServerProcess, set_spawning_popen
from typing import Any, Protocol, cast

log = logging.getLogger("ipyjobs")

#: What the server imports once, so that each child starts with it.
PRELOAD = ["ipyjobs.backends.forkserver", "ipyjobs.backends.process_child", "cloudpickle"]


class _ServerInternals(Protocol):
    """What ipyjobs uses of CPython's ``ForkServer`` beyond its typed API."""

    _forkserver_pid: int | None

    def _stop(self) -> None: ...


class _TrackerInternals(Protocol):
    """What ipyjobs uses of CPython's ``ResourceTracker`` beyond its typed API."""

    _pid: int | None

    def _stop(self) -> None: ...


def _internals(server: forkserver.ForkServer) -> _ServerInternals:
    return cast(_ServerInternals, server)


def _tracker() -> _TrackerInternals:
    return cast(_TrackerInternals, resource_tracker._resource_tracker)


def _close_fds(*fds: int) -> None:
    for fd in fds:
        os.close(fd)


class _Popen(popen_forkserver.Popen):
    """multiprocessing's forkserver ``Popen``, asking ipyjobs' server for the child."""

    _fds: list[int]  # set by multiprocessing's Popen: the descriptors the child inherits

    def _launch(self, process_obj: Any) -> None:
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_path", None)  # the work is pickled by value:
        prep_data.pop("init_main_from_name", None)  # no child re-imports __main__
        buffer = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buffer)
            reduction.dump(process_obj, buffer)
        finally:
            set_spawning_popen(None)
        self.sentinel, data = _server.server().connect_to_new_process(self._fds)
        # As multiprocessing does: a duplicate of the data pipe's write end is the
        # sentinel by which the child knows its parent is alive.
        parent_end = os.dup(data)
        self.finalizer = util.Finalize(self, _close_fds, (parent_end, self.sentinel))
        with open(data, "wb", closefd=True) as pipe:
            pipe.write(buffer.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class JobProcess(ForkServerProcess):
    """A ``multiprocessing.Process`` forked by ipyjobs' server."""

    @staticmethod
    def _Popen(process_obj: Any) -> _Popen:
        return _Popen(process_obj)


class _Server:
    """The one server of this interpreter, counted by its users (JobManagers)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._server: forkserver.ForkServer | None = None
        self._started_tracker = False

    def acquire(self) -> None:
        with self._lock:
            self._users += 1

    def server(self) -> forkserver.ForkServer:
        """The running server, started on first use."""
        with self._lock:
            if self._server is None:
                self._started_tracker = _tracker()._pid is None
                server = forkserver.ForkServer()
                server.set_forkserver_preload(PRELOAD)
                self._server = server
            server = self._server
        server.ensure_running()  # also (re)starts it if it died
        return server

    def pid(self) -> int | None:
        """The server's process id, while it runs."""
        server = self._server
        return None if server is None else _internals(server)._forkserver_pid

    def release(self) -> None:
        """Drop one user; the last one stops the server (its job processes have ended:
        the server waits for them) and the resource tracker if ipyjobs started it."""
        with self._lock:
            self._users = max(0, self._users - 1)
            if self._users or self._server is None:
                return
            server, self._server = self._server, None
            started_tracker, self._started_tracker = self._started_tracker, False
        _internals(server)._stop()
        if started_tracker:
            reason = _tracker_in_use()
            if reason is None:
                _tracker()._stop()
            else:
                log.info("ipyjobs: leaving multiprocessing's resource tracker running: %s", reason)


def _tracker_in_use() -> str | None:
    """Why the resource tracker must keep running for code other than ipyjobs', or None.
    Whatever registers with it (semaphores, shared memory) comes from these modules or
    from processes that multiprocessing started for the user."""
    if _internals(forkserver._forkserver)._forkserver_pid is not None:
        return "multiprocessing's forkserver runs for your code"
    if any(not isinstance(p, JobProcess) for p in multiprocessing.active_children()):
        return "processes your code started with multiprocessing still run"
    for module in ("multiprocessing.synchronize", "multiprocessing.shared_memory"):
        if module in sys.modules:
            return f"your code uses {module}"
    return None


_server = _Server()

acquire = _server.acquire
release = _server.release
server_pid = _server.pid


def tracker_pid() -> int | None:
    """multiprocessing's resource tracker's process id, while it runs."""
    return _tracker()._pid
