"""Widget coalescing and kernel responsiveness, measured in a real kernel.

(a) One job prints 100 000 lines per second for 3 s with its widget shown: how many widget
    messages (comm_msg) reach the frontend. Target: about 10 per second, not thousands.
(b) How long a `1+1` cell takes to complete while 20 such jobs run, against the same cell
    with no jobs, measured in the same run.
(c) A 1 000-child fan-out shown as its widget: one model (not 1 000 widgets), and the bytes
    each of its refreshes sends (the panel's state update, as JSON), against the bytes of
    the same widget's first full state.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.kernel import Kernel, widget_states

FAN_OUT = """import ipyjobs, time
ipyjobs.start_job(lambda i: time.sleep(0.002 * (i % 50)), each=range(1000), name="fan")
"""

FLOOD = """%%job -n flood{n}
import time
started = time.time()
sent = 0
while time.time() - started < 3:
    for _ in range(1000):
        print("line", sent)
        sent += 1
    ahead = sent / 100_000 - (time.time() - started)
    if ahead > 0:
        time.sleep(ahead)
sent
"""


def cell_time(kernel: Kernel, rounds: int = 15) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        kernel.execute("1+1")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    kernel = Kernel()
    try:
        kernel.execute("%load_ext ipyjobs")
        idle = cell_time(kernel)
        before = len(kernel.messages)
        kernel.execute(FLOOD.format(n=0))
        kernel.execute("%job_wait flood0")
        kernel.drain(1.0)
        window = kernel.messages[before:]
        comms = sum(m["msg_type"] == "comm_msg" for m in window)
        for n in range(1, 21):
            kernel.execute(FLOOD.format(n=n))
        busy = cell_time(kernel, rounds=10)
        kernel.execute("%job_wait")
        kernel.drain(1.0)
        before = len(kernel.messages)
        shown = kernel.execute(FAN_OUT)["msg_id"]
        kernel.execute("%job_wait fan")
        kernel.drain(1.0)
        fan = kernel.messages[before:]
        opened = [
            m
            for m in fan
            if m["msg_type"] == "comm_open" and m["parent_header"].get("msg_id") == shown
        ]
        panels = {
            m["content"]["comm_id"]
            for m in opened
            if m["content"]["data"]["state"].get("kind") == "job"
        }
        first = max(len(json.dumps(m["content"]["data"]["state"])) for m in opened)
        refreshes = [
            len(json.dumps(m["content"]["data"]["state"]))
            for m in fan
            if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] in panels
        ]
        assert widget_states(kernel)  # the models were seen
    finally:
        kernel.shutdown()
    print(f"widget messages for 3 s at 100k lines/s: {comms} ({comms / 3:.1f} per second)")
    print(f"`1+1` cell, idle kernel:           {idle * 1000:7.1f} ms")
    print(f"`1+1` cell, 20 flooding jobs:      {busy * 1000:7.1f} ms  ({busy / idle:.1f}x)")
    print(
        f"1 000-child fan-out: {len(opened)} widget models (a box, its panel, its Output, "
        "their layouts), "
        f"{len(refreshes)} refreshes of median {statistics.median(refreshes) / 1000:.1f} kB, "
        f"largest {max(refreshes) / 1000:.1f} kB (its first full state, with the front "
        f"end's code: {first / 1000:.1f} kB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
