"""What ``import ipyjobs`` costs, against ``import IPython``, in the same run.

Each import runs in a fresh interpreter (``python -c``), with warm bytecode caches (one
untimed run of each first); the figure is the median of ROUNDS wall times, less the
median of a bare ``python -c pass``. Target: ``import ipyjobs`` <= 0.5x ``import IPython``.
Also shown, for reference: the first ``JobManager`` (traitlets) and the extension's load.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

ROUNDS = 15
CASES = {
    "pass": "pass",
    "import IPython": "import IPython",
    "import ipyjobs": "import ipyjobs",
    "import ipyjobs; JobManager()": "import ipyjobs; ipyjobs.JobManager()",
}


def once(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def main() -> int:
    for code in CASES.values():
        once(code)  # warm the bytecode caches
    medians = {}
    for _ in range(ROUNDS):  # the cases take turns, so load falls on all alike
        for label, code in CASES.items():
            medians.setdefault(label, []).append(once(code))
    base = statistics.median(medians.pop("pass"))
    net = {label: statistics.median(times) - base for label, times in medians.items()}
    for label, seconds in net.items():
        print(f"{label:<32} {seconds * 1000:7.1f} ms")
    ratio = net["import ipyjobs"] / net["import IPython"]
    print(f"\nimport ipyjobs vs import IPython   {ratio:5.2f}x  (target <= 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
