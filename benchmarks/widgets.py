"""Widget coalescing and kernel responsiveness, measured in a real kernel.

(a) One job prints 100 000 lines per second for 3 s with its widget shown: how many widget
    messages (comm_msg) reach the frontend. Target: about 10 per second, not thousands.
(b) How long a `1+1` cell takes to complete while 20 such jobs run, against the same cell
    with no jobs, measured in the same run.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.kernel import Kernel

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
    finally:
        kernel.shutdown()
    print(f"widget messages for 3 s at 100k lines/s: {comms} ({comms / 3:.1f} per second)")
    print(f"`1+1` cell, idle kernel:           {idle * 1000:7.1f} ms")
    print(f"`1+1` cell, 20 flooding jobs:      {busy * 1000:7.1f} ms  ({busy / idle:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
