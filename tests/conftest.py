"""Shared fixtures: a fresh JobManager per test, and a check that nothing is left running."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

import pytest

import ipyjobs
from ipyjobs import JobManager

# Tests, and the kernels and shells they start, never touch the user's IPython profile
# (where the job store lives by default).
os.environ["IPYTHONDIR"] = tempfile.mkdtemp(prefix="ipyjobs-tests-ipython-")


def eventually(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """Wait until ``predicate()`` holds (polling a condition, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        time.sleep(0.005)


def ipyjobs_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("ipyjobs-")]


@pytest.fixture
def manager() -> Iterator[JobManager]:
    """A fresh manager, made the default for the module functions; after the test every
    job is stopped and no ipyjobs thread may remain."""
    fresh = JobManager(stop_grace=0.2)
    previous = ipyjobs.set_manager(fresh)
    try:
        yield fresh
    finally:
        fresh.shutdown()
        ipyjobs.set_manager(previous)
        eventually(lambda: not ipyjobs_threads(), timeout=15)


@pytest.fixture
def ip():
    """A real InteractiveShell with ``%load_ext ipyjobs``; unloaded and gone afterwards."""
    from IPython.core.interactiveshell import InteractiveShell

    main = sys.modules["__main__"]  # a shell puts its own module there
    shell = InteractiveShell.instance()
    previous = ipyjobs.set_manager(None)
    run(shell, "%load_ext ipyjobs")
    try:
        yield shell
    finally:
        run(shell, "%unload_ext ipyjobs")
        close_shell(shell, main)
        ipyjobs.set_manager(previous)
        eventually(lambda: not ipyjobs_threads(), timeout=15)


def close_shell(shell, main) -> None:
    """Let go of a test's InteractiveShell, with its history-saving thread (IPython stops
    it only at exit), and give ``__main__`` back."""
    from IPython.core.interactiveshell import InteractiveShell

    if shell.history_manager.save_thread is not None:
        shell.history_manager.save_thread.stop()
    InteractiveShell.clear_instance()
    sys.modules["__main__"] = main


def run(shell, cell: str):
    """Run a cell; return its value, or raise what went wrong in it."""
    result = shell.run_cell(cell)
    error = result.error_before_exec or result.error_in_exec
    if error is not None:
        raise error
    return result.result


def local_cluster(workers: int, threads: int):
    """A real Dask LocalCluster of worker processes on 127.0.0.1 with no dashboard, run by
    a process of its own (tests/dask_cluster_process.py), and a client of it; closed at
    the end."""
    import subprocess

    from distributed import Client

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.dask_cluster_process", str(workers), str(threads)],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        address = process.stdout.readline().strip()
        client = Client(address, set_as_default=False)
        client.wait_for_workers(workers, timeout=60)
        try:
            yield process, client
        finally:
            client.close()
    finally:
        process.stdin.close()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture(scope="session")
def dask_cluster():
    """Two worker processes of one thread each, for the whole session."""
    yield from local_cluster(2, 1)


@pytest.fixture(scope="session")
def dask_threads_cluster():
    """A LocalCluster of one worker process with four threads (Dask's usual shape: tasks
    run side by side in one process), for the contract suite: its jobs all run on the
    worker named 0, so each one's location is known when it starts."""
    yield from local_cluster(1, 4)


@pytest.fixture
def dask(dask_cluster, manager):
    """The session cluster's client, given to the test's manager, with both workers up
    (a test may have restarted one)."""
    _, client = dask_cluster
    client.wait_for_workers(2, timeout=60)
    manager.dask_client = client
    return client


@pytest.fixture(scope="session")
def engines_cluster():
    """A real local ipyparallel cluster with two engines for the whole session, found by
    its cluster id (as ``JobManager.engines_cluster_id`` finds it); stopped at the end."""
    import os

    import ipyparallel

    cluster = ipyparallel.Cluster(n=2, cluster_id=f"ipyjobs-tests-{os.getpid()}", log_level=40)
    client = cluster.start_and_connect_sync()
    try:
        client.wait_for_engines(2, timeout=60)
        yield cluster, client
    finally:
        client.close()
        cluster.stop_cluster_sync()
