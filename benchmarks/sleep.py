"""What the routed ``time.sleep`` costs the kernel's own calls, outside any job, against
Python's own in the same run (DESIGN §14: inside a thread job a stop wakes it; outside
one it must cost nothing measurable).

Two measures, each taken in turn with its baseline (``rounds.in_turn``): ``time.sleep(0)``
(Python's path: the routed one checks it is outside a job and calls Python's), and
``time.sleep(0.001)``, a short real sleep, as a polling loop in the kernel makes. The
ratio is the median of each round's own. Target: within 1.05x on the real sleep.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from rounds import in_turn, median_ratio

from ipyjobs.execution import capture, sleeping

ROUNDS = 30


def per_call(sleep, seconds: float, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        sleep(seconds)
    return (time.perf_counter() - started) / calls


def main() -> int:
    capture.acquire()  # the routing as a loaded extension has it
    try:
        assert time.sleep is sleeping.sleep
        routed, python = sleeping.sleep, sleeping.original
        for label, seconds, calls in (
            ("time.sleep(0)", 0.0, 2000),
            ("time.sleep(0.001)", 0.001, 50),
        ):
            ours, base = in_turn(
                ROUNDS,
                lambda s=seconds, n=calls: per_call(routed, s, n),
                lambda s=seconds, n=calls: per_call(python, s, n),
            )
            ratio = median_ratio(ours, base)
            print(
                f"{label:<20} routed {min(ours) * 1e6:8.2f} us  python {min(base) * 1e6:8.2f} us"
                f"  ratio {ratio:5.3f}x"
            )
    finally:
        capture.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
