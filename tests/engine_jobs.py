"""Job bodies for the remote job tests: they run on ipyparallel engines."""

from __future__ import annotations

import os
import time

import ipyjobs


def engine_id() -> int:
    from IPython import get_ipython

    return get_ipython().kernel.engine_id


def fails_on_engine_1() -> str:
    if engine_id() == 1:
        raise ValueError("engine 1 fails")
    return f"ok from {engine_id()}"


def gated_ticks(gate: str) -> str:
    """Print a tick, then wait for the gate file, then print another."""
    print(f"tick 1 from {engine_id()}")
    ipyjobs.write_output(engine_id())
    while not os.path.exists(gate):
        time.sleep(0.005)
    print(f"tick 2 from {engine_id()}")
    return "done"


def touch_then_wait(started: str, gate: str) -> int:
    """Say it started (a file), then wait for the gate file; returns the engine's pid."""
    open(started + str(engine_id()), "w").close()
    while not os.path.exists(gate):
        time.sleep(0.005)
    return os.getpid()


def mark(path: str) -> None:
    open(path, "w").close()


def pid() -> int:
    return os.getpid()


def where() -> str:
    return os.getcwd()


def which_engine(item):
    """A fan-out item, and the engine it ran on (the engines' namespaces hold ``engine_id``
    only when set, so the pid tells them apart)."""
    import os
    import time

    time.sleep(0.1)
    return item, os.getpid()


def spin_on_engine() -> None:
    while True:
        pass
