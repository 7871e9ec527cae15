"""One thread job prints 1 GB: the peak memory growth of the process while the kernel
streams it out with ``receive(wait=True)``, and while it receives it all at once after
the job ended (target <= 100 MB each), and that every byte arrived in order. The
baseline is the same loop printing into /dev/null, timed in the same run.
Run: ``python benchmarks/big_output.py [MEGABYTES]``.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import ipyjobs

LINE = 100  # bytes per line, newline included


class CheckingSink:
    """Stands for the notebook: checks that line i comes i-th, keeps nothing else."""

    def __init__(self) -> None:
        self.expected = 0
        self.partial = ""
        self.bytes = 0
        self.intact = True

    def write(self, text: str) -> int:
        self.bytes += len(text)
        lines = (self.partial + text).split("\n")
        self.partial = lines.pop()
        for line in lines:
            if not line.startswith(f"{self.expected:010d} "):
                self.intact = False
            self.expected += 1
        return len(text)

    def flush(self) -> None:
        pass


def flood(lines: int) -> None:
    pad = "x" * (LINE - 12)
    for i in range(lines):
        print(f"{i:010d} {pad}")


class PeakMemory:
    """Samples this process's resident memory every few milliseconds from a thread."""

    def __init__(self) -> None:
        import psutil

        self.process = psutil.Process()
        self.base = self.peak = self.process.memory_info().rss
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.done.wait(0.005):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def growth(self) -> int:
        self.done.set()
        self.thread.join()
        return self.peak - self.base


def main() -> int:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    lines = megabytes * 1_000_000 // LINE
    with open(os.devnull, "w") as devnull:
        saved, sys.stdout = sys.stdout, devnull
        started = time.perf_counter()
        flood(lines)
        baseline = time.perf_counter() - started
        sys.stdout = saved
    print(f"{megabytes} MB printed by one job; the same loop into /dev/null: {baseline:.1f} s")
    ok = True
    for how in ("streamed with receive(wait=True)", "received at once after it ended"):
        sink = CheckingSink()
        real, sys.stdout = sys.stdout, sink
        try:
            ipyjobs.start_job(len, "").wait(5)  # warm up: imports, the first worker
            memory = PeakMemory()
            started = time.perf_counter()
            job = ipyjobs.start_job(flood, lines)
            if how.startswith("streamed"):
                ipyjobs.receive_job(job, wait=True)
            else:
                job.wait()
                ipyjobs.receive_job(job)
            elapsed = time.perf_counter() - started
            growth = memory.growth()
            ipyjobs.get_manager().shutdown()
        finally:
            sys.stdout = real
        intact = sink.intact and sink.expected == lines and sink.partial == ""
        ok = ok and intact
        print(
            f"{how:<34} peak memory growth {growth / 1e6:6.1f} MB (target <= 100), "
            f"every byte in order: {intact}, {elapsed:.1f} s"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
