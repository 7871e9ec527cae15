"""The contract suite runs once per backend; a new backend adds its name here."""

from __future__ import annotations

import socket

import pytest

BACKENDS = ["thread", "process", "engines", "dask"]
JOB_TYPES = {
    "thread": "ThreadJob",
    "process": "ProcessJob",
    "engines": "RemoteJob",
    "dask": "RemoteJob",
}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, manager) -> str:
    manager.default_backend = request.param
    if request.param == "engines":  # one child, on the least busy of the cluster's engines
        _, client = request.getfixturevalue("engines_cluster")
        manager.engines_client = client
        manager.default_engines = "any"
    if request.param == "dask":  # one child, on the cluster's one worker (named 0)
        _, client = request.getfixturevalue("dask_threads_cluster")
        manager.dask_client = client
        manager.default_workers = "0"
    return request.param


@pytest.fixture
def location(backend: str) -> str:
    """Where the one child of a job of this backend runs (an engines job started when
    none runs goes to engine 0)."""
    if backend == "dask":
        return "0"
    return f"engine0@{socket.gethostname()}" if backend == "engines" else "localhost"
