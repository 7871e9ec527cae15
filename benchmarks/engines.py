"""Remote jobs against raw ipyparallel, measured in the same run on a local cluster.

Within each round the raw and the ipyjobs measure are taken in turn.

(a) dispatch: the call that sends one child to engine 0 (``start_job`` returning), against
    the ``DirectView.apply_async`` call, median of ``ROUNDS`` (each then waited for).
    Target: <= 1.2x.
    Also against ``apply_async`` with ipyparallel's ``use_cloudpickle()``, the serializer
    ipyjobs uses for the work.
(b) round trip: one child from ``start_job`` to finished, against
    ``DirectView.apply_async`` + ``get`` of the same function (one round trip each).
(c) batch: ``BATCH`` one-engine jobs started back to back, against ``BATCH``
    ``apply_async`` calls, best of ``BATCH_ROUNDS``. The sending alone (dispatch per
    child with warm caches; target <= 1.2x) is timed while engine 0 is held by a task
    waiting for a gate file, so what is measured is dispatching, not the engines running
    earlier tasks on the cores the kernel shares with them; then, gate-free, the time
    until all are done.
(d) stream: lines per second from an engine printing as fast as it can, as the kernel
    receives them, against the same loop's output read from ``AsyncResult.stdout``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

import ipyparallel
from rounds import in_turn

import ipyjobs

ROUNDS = 40
BATCH = 200
BATCH_ROUNDS = 5
LINES = 100_000


def nothing() -> None:
    return None


def print_lines(n: int) -> None:
    for i in range(n):
        print("line", i)


def hold_until(gate: str) -> None:
    """Say the engine is held (a file beside ``gate``), then wait for ``gate``."""
    import os
    import time

    open(gate + ".held", "w").close()
    while not os.path.exists(gate):
        time.sleep(0.001)


class EngineHeld:
    """Engine 0 busy on a task that waits for a gate file: what is sent meanwhile
    queues behind it."""

    def __init__(self, view) -> None:
        self.gate = os.path.join(tempfile.mkdtemp(), "gate")
        self.view = view

    def __enter__(self) -> EngineHeld:
        self.blocker = self.view.apply_async(hold_until, self.gate)
        while not os.path.exists(self.gate + ".held"):
            time.sleep(0.001)
        return self

    def __exit__(self, *_: object) -> None:
        open(self.gate, "w").close()
        self.blocker.get(60)
        os.remove(self.gate)
        os.remove(self.gate + ".held")
        os.rmdir(os.path.dirname(self.gate))


def raw_round_trip(view) -> float:
    started = time.perf_counter()
    view.apply_async(nothing).get(60)
    return time.perf_counter() - started


def job_round_trip() -> float:
    started = time.perf_counter()
    job = ipyjobs.start_job(nothing, engines=[0])
    job.wait_until_finished(60)
    elapsed = time.perf_counter() - started
    job.remove()
    return elapsed


def raw_dispatch(view) -> float:
    started = time.perf_counter()
    result = view.apply_async(nothing)
    elapsed = time.perf_counter() - started
    result.get(60)
    return elapsed


def job_dispatch() -> float:
    started = time.perf_counter()
    job = ipyjobs.start_job(nothing, engines=[0])
    elapsed = time.perf_counter() - started
    job.wait_until_finished(60)
    job.remove()
    return elapsed


def raw_batch_send(view) -> float:
    with EngineHeld(view):
        started = time.perf_counter()
        results = [view.apply_async(nothing) for _ in range(BATCH)]
        sent = time.perf_counter() - started
    for result in results:
        result.get(60)
    return sent


def job_batch_send(view) -> float:
    with EngineHeld(view):
        started = time.perf_counter()
        jobs = [ipyjobs.start_job(nothing, engines=[0]) for _ in range(BATCH)]
        sent = time.perf_counter() - started
    ipyjobs.wait_job(*jobs, timeout=120)
    ipyjobs.remove_job(*jobs)
    return sent


def raw_batch(view) -> float:
    started = time.perf_counter()
    results = [view.apply_async(nothing) for _ in range(BATCH)]
    for result in results:
        result.get(60)
    return time.perf_counter() - started


def job_batch() -> float:
    started = time.perf_counter()
    jobs = [ipyjobs.start_job(nothing, engines=[0]) for _ in range(BATCH)]
    ipyjobs.wait_job(*jobs, timeout=120)
    elapsed = time.perf_counter() - started
    ipyjobs.remove_job(*jobs)
    return elapsed


def raw_stream(view) -> float:
    started = time.perf_counter()
    result = view.apply_async(print_lines, LINES)
    result.get(120)
    result.wait_for_output(60)
    assert result.stdout.count("\n") == LINES
    return LINES / (time.perf_counter() - started)


def job_stream() -> float:
    started = time.perf_counter()
    job = ipyjobs.start_job(print_lines, LINES, engines=[0])
    job.wait_until_finished(120)
    text = "".join(r.value for r in job.receive(raw=True) if r.stream is ipyjobs.Stream.STDOUT)
    assert text.count("\n") == LINES, text.count("\n")
    return LINES / (time.perf_counter() - started)


def main() -> int:
    cluster = ipyparallel.Cluster(n=2, log_level=40)
    client = cluster.start_and_connect_sync()
    try:
        client.wait_for_engines(2, timeout=60)
        ipyjobs.set_manager(ipyjobs.JobManager(engines_client=client))
        view = client[0]
        raw_round_trip(view), job_round_trip()  # warm both paths up
        raw_send, our_send = map(
            statistics.median, in_turn(ROUNDS, lambda: raw_dispatch(view), job_dispatch)
        )
        raw, ours = map(
            statistics.median, in_turn(ROUNDS, lambda: raw_round_trip(view), job_round_trip)
        )
        raw_many_send, ours_many_send = map(
            min, in_turn(BATCH_ROUNDS, lambda: raw_batch_send(view), lambda: job_batch_send(view))
        )
        raw_many, ours_many = map(min, in_turn(BATCH_ROUNDS, lambda: raw_batch(view), job_batch))
        raw_lines = raw_stream(view)
        our_lines = job_stream()
        # ipyjobs always pickles the work with cloudpickle; raw ipyparallel can too:
        client[:].use_cloudpickle()
        raw_send_cloudpickle = statistics.median(raw_dispatch(view) for _ in range(ROUNDS))
        ipyjobs.get_manager().shutdown()
    finally:
        cluster.stop_cluster_sync()
    print(f"dispatch: raw apply_async        {raw_send * 1000:7.2f} ms")
    send_ratio = our_send / raw_send
    print(
        f"dispatch: start_job              {our_send * 1000:7.2f} ms  ({send_ratio:.2f}x, "
        "target <= 1.2)"
    )
    cloudpickle_ratio = our_send / raw_send_cloudpickle
    print(
        f"dispatch: raw, with cloudpickle  {raw_send_cloudpickle * 1000:7.2f} ms  "
        f"(start_job: {cloudpickle_ratio:.2f}x)"
    )
    print(f"one child: raw apply_async+get   {raw * 1000:7.2f} ms")
    ratio = ours / raw
    print(f"one child: remote job            {ours * 1000:7.2f} ms  ({ratio:.2f}x)")
    print(f"{BATCH} sends: raw apply_async      {raw_many_send * 1000 / BATCH:7.2f} ms each")
    print(
        f"{BATCH} sends: start_job          {ours_many_send * 1000 / BATCH:7.2f} ms each "
        f"({ours_many_send / raw_many_send:.2f}x, target <= 1.2)"
    )
    print(f"{BATCH} children: raw apply_async   {raw_many * 1000 / BATCH:7.2f} ms each")
    print(
        f"{BATCH} children: remote jobs       {ours_many * 1000 / BATCH:7.2f} ms each "
        f"({ours_many / raw_many:.2f}x)"
    )
    print(f"stream: raw AsyncResult.stdout   {raw_lines / 1e6:7.3f} M lines/s")
    print(f"stream: remote job, received     {our_lines / 1e6:7.3f} M lines/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
