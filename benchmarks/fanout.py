"""Fan-out jobs against the standard library's pools over the same items, in one run.

(a) a 1 000-item thread fan-out of trivial work (``start_job(fn, each=items)``, then
    receive) against ``list(ThreadPoolExecutor().map(fn, items))``, pool creation
    included on both sides. Target: <= 2x.
(b) a 100-item process fan-out (``backend="process"``, as many at once as CPUs) against
    ``list(ProcessPoolExecutor(mp_context=forkserver).map(fn, items))``, the pool and its
    workers made in the measure, as a fan-out makes its processes. Target: <= 1.5x.
Run: ``python benchmarks/fanout.py`` (it guards its main: forkserver children import it).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from rounds import in_turn, median_ratio

THREAD_ITEMS = 1000
PROCESS_ITEMS = 100
ROUNDS = 7


def trivial(item: int) -> int:
    return item * 2


def timed(function) -> Callable[[], float]:
    """``function``'s time, from a clean heap: measured in turn, one side's garbage
    (1 000 jobs) would otherwise be collected in the other's time."""

    def measure() -> float:
        gc.collect()
        started = time.perf_counter()
        function()
        return time.perf_counter() - started

    return measure


def main() -> int:
    import ipyjobs

    manager = ipyjobs.JobManager()
    ipyjobs.set_manager(manager)
    items = list(range(THREAD_ITEMS))
    expected = [trivial(i) for i in items]

    def ours_threads() -> None:
        job = manager.start_job(trivial, each=items)
        job.wait(60)
        assert manager.receive_job(job) == expected
        manager.remove_job(job)

    def pool_threads() -> None:
        with ThreadPoolExecutor() as pool:
            assert list(pool.map(trivial, items)) == expected

    ours_threads(), pool_threads()  # warm
    thread_ours, thread_pool = in_turn(ROUNDS, timed(ours_threads), timed(pool_threads))
    thread_workers = len(manager.backend("thread").pool.threads())
    print(
        f"thread fan-out of {THREAD_ITEMS}: ipyjobs {statistics.median(thread_ours) * 1e3:7.1f}"
        f" ms, ThreadPoolExecutor.map {statistics.median(thread_pool) * 1e3:7.1f} ms: "
        f"{median_ratio(thread_ours, thread_pool):4.2f}x (target <= 2); "
        f"workers left: {thread_workers}"
    )

    few = list(range(PROCESS_ITEMS))
    few_expected = [trivial(i) for i in few]
    forkserver = multiprocessing.get_context("forkserver")

    def ours_processes() -> None:
        job = manager.start_job(trivial, each=few, backend="process")
        job.wait(120)
        assert manager.receive_job(job) == few_expected, job.state
        manager.remove_job(job)

    def pool_processes() -> None:
        with ProcessPoolExecutor(os.cpu_count(), mp_context=forkserver) as pool:
            assert list(pool.map(trivial, few)) == few_expected

    ours_processes(), pool_processes()  # warm: both forkservers run
    process_ours, process_pool = in_turn(5, timed(ours_processes), timed(pool_processes))
    print(
        f"process fan-out of {PROCESS_ITEMS}: ipyjobs "
        f"{statistics.median(process_ours) * 1e3:7.1f} ms, ProcessPoolExecutor.map "
        f"(forkserver) {statistics.median(process_pool) * 1e3:7.1f} ms: "
        f"{median_ratio(process_ours, process_pool):4.2f}x (target <= 1.5)"
    )
    manager.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
