"""Job bodies for the contract suite. They synchronise through files, so they behave the
same in a thread, a child process or an engine."""

from __future__ import annotations

import os
import sys
import time
import warnings

import ipyjobs


def wait_for_file(path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(path)
        time.sleep(0.005)


def add(a, b):
    return a + b


def sleeper(seconds):
    time.sleep(seconds)
    return seconds


def gated(gate, before="before", after="after"):
    """Print `before`, wait for the gate file, print `after`, return 42."""
    print(before)
    wait_for_file(gate)
    print(after)
    return 42


def every_stream():
    # An engine is a long-lived interpreter, which shows a warning once per place: forget
    # that an earlier test's run of this job already showed it.
    globals().pop("__warningregistry__", None)
    print("out 1")
    sys.stderr.write("err 1\n")
    warnings.warn("careful", UserWarning, stacklevel=1)
    ipyjobs.write_output("value 1")
    ipyjobs.write_progress(50, status="half")
    print("out 2")
    raise ValueError("boom")


def generator(n):
    for i in range(n):
        print(f"making {i}")
        yield i


def returns_none():
    print("side effect only")


def fails():
    raise KeyError("missing")


def cooperative_loop(started):
    open(started, "w").close()
    while True:
        ipyjobs.check_stop()
        time.sleep(0.001)


def busy_loop(started):
    open(started, "w").close()
    n = 0
    while True:
        n += 1


def numbered_lines(count, prefix):
    for i in range(count):
        print(f"{prefix} {i}")
