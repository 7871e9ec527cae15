"""A Dask LocalCluster in a process of its own, for the tests: ``python -m
tests.dask_cluster_process WORKERS THREADS`` prints the scheduler's address, then runs
until its standard input closes. In the test process itself, a LocalCluster's worker
processes would start multiprocessing's resource tracker there, which the process-job
tests need to find as ipyjobs left it."""

from __future__ import annotations

import logging
import sys

from distributed import LocalCluster


def main() -> int:
    workers, threads = int(sys.argv[1]), int(sys.argv[2])
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=threads,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
        silence_logs=logging.ERROR,
    )
    print(cluster.scheduler_address, flush=True)
    sys.stdin.read()  # until the test process closes it (or dies)
    cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
