"""Process jobs against bare multiprocessing, measured in the same run.

(a) start: a process job from start_job to finished, against a forkserver
    ``multiprocessing.Process`` start+join (both with the server already running).
    Target: <= 2x.
(b) stream throughput: lines per second from a child printing as fast as it can, as the
    kernel receives them, against the same loop printing into /dev/null in a bare child.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import time

import ipyjobs

ROUNDS = 30
LINES = 200_000


def nothing() -> None:
    return None


def print_lines(n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        print("line", i)
    return time.perf_counter() - started


def to_devnull(n: int) -> None:
    with open(os.devnull, "w") as sink:
        sys.stdout = sink
        print_lines(n)


def bare_start(context) -> float:
    started = time.perf_counter()
    process = context.Process(target=nothing)
    process.start()
    process.join()
    return time.perf_counter() - started


def job_start() -> float:
    started = time.perf_counter()
    job = ipyjobs.start_job(nothing, backend="process")
    job.wait_until_finished(60)
    elapsed = time.perf_counter() - started
    job.remove()
    return elapsed


def main() -> int:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["ipyjobs.backends.process_child", "cloudpickle"])
    job_start()  # start the forkserver and import what children need
    bare = statistics.median(bare_start(context) for _ in range(ROUNDS))
    ours = statistics.median(job_start() for _ in range(ROUNDS))
    started = time.perf_counter()
    process = context.Process(target=to_devnull, args=(LINES,))
    process.start()
    process.join()
    bare_stream = LINES / (time.perf_counter() - started)
    started = time.perf_counter()
    job = ipyjobs.start_job(print_lines, LINES, backend="process")
    job.wait_until_finished(120)
    text = "".join(r.value for r in job.receive(raw=True) if r.stream is ipyjobs.Stream.STDOUT)
    received = time.perf_counter() - started
    assert text.count("\n") == LINES, text.count("\n")
    ipyjobs.get_manager().shutdown()
    print(f"start+finish: bare forkserver Process {bare * 1000:7.2f} ms")
    print(
        f"start+finish: process job             {ours * 1000:7.2f} ms  ({ours / bare:.2f}x, "
        "target <= 2)"
    )
    print(f"stream: bare child into /dev/null     {bare_stream / 1e6:7.2f} M lines/s")
    print(
        f"stream: process job, all received     {LINES / received / 1e6:7.2f} M lines/s "
        f"({bare_stream * received / LINES:.1f}x the time)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
