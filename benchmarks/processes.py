"""Process jobs against bare multiprocessing, measured in the same run.

(a) start: a process job from start_job to finished, against a forkserver
    ``multiprocessing.Process`` start+join (both with their server already running), in
    both orders: ipyjobs' first job before the user's code starts multiprocessing's
    forkserver, and after it (multiprocessing then ignores any preload list; ipyjobs
    forks from a server of its own). Each order runs in a fresh interpreter started with
    ``-c``, so no child re-imports a script. The two are taken in turn, and the ratio is
    the median of each round's own. Target: <= 2x in both.
(b) stream throughput: lines per second from a child printing as fast as it can, as the
    kernel receives them, against the same loop printing into /dev/null in a bare child.
(c) flush latency: from a job's Running to its first record, when the job writes it and
    then enters a C call that holds the GIL. Target: < 1 s.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time

from rounds import in_turn, median_ratio

ROUNDS = 40
LINES = 200_000
HOLD_THE_GIL = "import os, ipyjobs\nipyjobs.write_output(os.getpid())\nsum(range(10**13))"


def bare_start(context) -> float:
    started = time.perf_counter()
    process = context.Process(target=os.getpid)  # a builtin: the child imports nothing
    process.start()
    process.join()
    return time.perf_counter() - started


def job_start() -> float:
    import ipyjobs

    started = time.perf_counter()
    job = ipyjobs.start_job(os.getpid, backend="process")
    job.wait_until_finished(60)
    elapsed = time.perf_counter() - started
    job.remove()
    return elapsed


def measure_start(order: str) -> None:
    """Run in a fresh interpreter: print the medians as JSON."""
    import ipyjobs

    context = multiprocessing.get_context("forkserver")
    if order == "user-first":
        bare_start(context)  # the user's code starts multiprocessing's forkserver
        job_start()
    else:
        job_start()
        bare_start(context)
    bare, ours = in_turn(ROUNDS, lambda: bare_start(context), job_start)
    ipyjobs.get_manager().shutdown()
    medians = {"bare": statistics.median(bare), "ours": statistics.median(ours)}
    print(json.dumps({**medians, "ratio": median_ratio(ours, bare)}))


def start_in_a_fresh_interpreter(order: str) -> dict[str, float]:
    here = os.path.dirname(os.path.abspath(__file__))
    code = f"import sys; sys.path.insert(0, {here!r}); import processes; "
    code += f"processes.measure_start({order!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout.splitlines()[-1])


def print_lines(n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        print("line", i)
    return time.perf_counter() - started


def to_devnull(n: int) -> None:
    with open(os.devnull, "w") as sink:
        sys.stdout = sink
        print_lines(n)


def stream() -> tuple[float, float]:
    import ipyjobs

    context = multiprocessing.get_context("forkserver")
    started = time.perf_counter()
    process = context.Process(target=to_devnull, args=(LINES,))
    process.start()
    process.join()
    bare = LINES / (time.perf_counter() - started)
    started = time.perf_counter()
    job = ipyjobs.start_job(print_lines, LINES, backend="process")
    job.wait_until_finished(120)
    text = "".join(r.value for r in job.receive(raw=True) if r.stream is ipyjobs.Stream.STDOUT)
    received = time.perf_counter() - started
    assert text.count("\n") == LINES, text.count("\n")
    return bare, LINES / received


def flush_latency() -> float:
    import ipyjobs

    job = ipyjobs.start_job(HOLD_THE_GIL, backend="process")
    while job.state != "Running":
        time.sleep(0.0005)
    running = time.perf_counter()
    while not job.has_more_data:
        time.sleep(0.0005)
    latency = time.perf_counter() - running
    ipyjobs.get_manager().stop_grace = 0.1  # SIGINT waits for the C call: SIGTERM soon
    job.stop()
    job.wait_until_finished(10)
    job.remove()
    return latency


def main() -> int:
    import ipyjobs

    for order in ("ipyjobs-first", "user-first"):
        result = start_in_a_fresh_interpreter(order)
        bare, ours = result["bare"], result["ours"]
        print(f"start+finish ({order}): bare forkserver Process {bare * 1000:6.2f} ms")
        print(
            f"start+finish ({order}): process job             {ours * 1000:6.2f} ms  "
            f"({result['ratio']:.2f}x, target <= 2)"
        )
    bare_stream, ours_stream = stream()
    print(f"stream: bare child into /dev/null     {bare_stream / 1e6:7.2f} M lines/s")
    print(
        f"stream: process job, all received     {ours_stream / 1e6:7.2f} M lines/s "
        f"({bare_stream / ours_stream:.1f}x the time)"
    )
    latencies = sorted(flush_latency() for _ in range(5))
    print(
        f"first record behind a C call holding the GIL: median {latencies[2] * 1000:.1f} ms, "
        f"worst {latencies[-1] * 1000:.1f} ms (target < 1000)"
    )
    ipyjobs.get_manager().shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
