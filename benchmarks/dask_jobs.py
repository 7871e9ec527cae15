"""Dask jobs against Dask itself, on a LocalCluster of two one-thread worker processes
started here (DESIGN §15), each measure in turn with its baseline (``rounds.in_turn``):

(a) one job, ``start_job(fn, backend="dask").result()``, against
    ``client.submit(fn, pure=False).result()``, ten in a row each; target <= 1.3x.
(b) a 1 000-item fan-out, ``start_job(fn, each=items, backend="dask")`` received, against
    ``client.gather(client.map(fn, items, pure=False))``; target <= 1.5x.
(c) from a task's ``print`` to the record in the kernel's job: median and worst.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rounds import in_turn, median_ratio

import ipyjobs

ROUNDS = 7


def double(x: int = 1) -> int:
    return 2 * x


def stamped_prints(count: int) -> None:
    for _ in range(count):
        print(time.time(), flush=True)
        time.sleep(0.05)


def timed(action):
    def measure() -> float:
        started = time.perf_counter()
        action()
        return time.perf_counter() - started

    return measure


def main() -> int:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
    )
    client = Client(cluster, set_as_default=False)
    manager = ipyjobs.JobManager()
    manager.dask_client = client
    previous = ipyjobs.set_manager(manager)
    try:

        def one_job() -> None:  # ten, one after another (one is a few milliseconds)
            for _ in range(10):
                job = ipyjobs.start_job(double, 21, backend="dask")
                assert job.result(60) == 42
                ipyjobs.remove_job(job)

        def one_submit() -> None:
            for _ in range(10):
                assert client.submit(double, 21, pure=False).result() == 42

        def fan_out() -> None:
            job = ipyjobs.start_job(double, each=range(1000), backend="dask")
            assert len(ipyjobs.receive_job(job, wait=True)) == 1000
            ipyjobs.remove_job(job)

        def mapped() -> None:
            assert len(client.gather(client.map(double, range(1000), pure=False))) == 1000

        one_job(), one_submit()  # warm: the workers import ipyjobs once
        for label, ours, theirs, target in (
            ("one job", one_job, one_submit, 1.3),
            ("1 000-item fan-out", fan_out, mapped, 1.5),
        ):
            mine_times, dask_times = in_turn(ROUNDS, timed(ours), timed(theirs))
            ratio = median_ratio(mine_times, dask_times)
            mine, dask = statistics.median(mine_times), statistics.median(dask_times)
            print(
                f"{label:20} ipyjobs {mine * 1000:8.1f} ms, Dask {dask * 1000:8.1f} ms "
                f"(medians of {ROUNDS} rounds): "
                f"{ratio:.2f}x (target <= {target}x)"
            )
        job = ipyjobs.start_job(stamped_prints, 40, backend="dask")
        (child,) = job.child_jobs
        lags = []
        seen = 0
        while not job.finished or seen < 40:
            records = [r for r in child.receive(raw=True) if r.stream is ipyjobs.Stream.STDOUT]
            now = time.time()
            for record in records:
                for line in record.value.split():
                    lags.append(now - float(line))
                    seen += 1
            time.sleep(0.005)
        print(
            f"{'print to record':20} median {statistics.median(lags) * 1000:6.1f} ms, "
            f"worst {max(lags) * 1000:6.1f} ms (of {len(lags)} prints)"
        )
    finally:
        manager.shutdown()
        ipyjobs.set_manager(previous)
        client.close()
        cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
