"""Job end to notification delivered (DESIGN §13): a thread job's, sent by the kernel's
notification thread, and a detached job's, sent by its supervisor, each to an HTTP
receiver on 127.0.0.1 (Apprise's ``json://``). Each job runs a second and returns
``time.time()`` as its last act; the time is from then to the request's arrival.
Median and worst of ``ROUNDS``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ipyjobs
from tests.receivers import HttpReceiver

ROUNDS = 10


def stamp() -> float:
    """A job of a second (a supervisor loads Apprise while its job runs)."""
    time.sleep(1.0)
    return time.time()


def measure(receiver: HttpReceiver, **options: object) -> list[float]:
    took = []
    for _ in range(ROUNDS):
        before = len(receiver.items)
        job = ipyjobs.start_job(stamp, notify=receiver.url(), **options)
        receiver.wait_for(before + 1, 60)
        arrived = time.time()
        ended = job.result(60)
        took.append(arrived - ended)
    return took


def main() -> int:
    receiver = HttpReceiver()
    manager = ipyjobs.JobManager(store_dir=tempfile.mkdtemp() + "/store")
    previous = ipyjobs.set_manager(manager)
    try:
        ipyjobs.start_job(int, notify=receiver.url()).wait(10)  # Apprise loaded once
        receiver.wait_for(1, 30)
        for label, options in (("thread job", {}), ("detached job", {"detach": True})):
            took = measure(receiver, **options)
            print(
                f"{label:12} end to notification delivered: median "
                f"{1000 * statistics.median(took):6.1f} ms, worst {1000 * max(took):6.1f} ms"
            )
    finally:
        manager.shutdown()
        ipyjobs.set_manager(previous)
        receiver.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
