"""Job bodies for the Dask tests, importable on the workers (which get this repository's
folder on their path from the test's cluster)."""

from __future__ import annotations

import os
import select
import time


def ticks(count: int, pause: float) -> int:
    for n in range(count):
        print("tick", n, flush=True)
        time.sleep(pause)
    return count


def square(item: int) -> int:
    return item * item


def span(pause: float) -> tuple[float, float]:
    """When it ran, on the machine's clock (the workers share this machine)."""
    began = time.time()
    time.sleep(pause)
    return began, time.time()


def busy() -> None:
    while True:
        pass


def stuck_in_c() -> None:
    """Blocked in one C call, which no exception in its thread can end."""
    select.select([], [], [], 120)


def touch_then_spin(path: str) -> None:
    with open(path, "w"):
        pass
    while True:
        time.sleep(0.01)


def worker_pid() -> int:
    return os.getpid()


def stuck_first(item: int) -> int:
    """Item 0 is stuck in C; the others are quick."""
    if item == 0:
        stuck_in_c()
    time.sleep(0.05)
    return item
