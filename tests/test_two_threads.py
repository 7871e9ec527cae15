"""Everything the manager offers is safe from two threads at once (DESIGN §12: a kernel
subshell runs magics beside the running cell): one thread starts, waits for and receives
jobs while another lists, stops and receives them. Each output is received exactly once,
and every job ends."""

from __future__ import annotations

import random
import threading
import time

import ipyjobs
from ipyjobs import JobNotFoundError, JobState


def work(n: int) -> int:
    print(f"job {n}")
    time.sleep(0.001 * (n % 5))
    return n


def test_start_stop_list_and_receive_from_two_threads_at_once(manager):
    stop_at = time.monotonic() + 3.0
    received: list[list[int]] = [[], []]
    errors: list[BaseException] = []
    started: list[int] = []

    def first() -> None:
        n = 0
        while time.monotonic() < stop_at:
            batch = [ipyjobs.start_job(work, n + i) for i in range(5)]
            started.extend(range(n, n + 5))
            n += 5
            ipyjobs.wait_job(*batch, timeout=10)
            received[0].extend(ipyjobs.receive_job(*batch))

    def second() -> None:
        rng = random.Random(1)
        while time.monotonic() < stop_at:
            jobs = ipyjobs.get_job()
            if not jobs:
                continue
            job = rng.choice(jobs)
            try:
                action = rng.random()
                if action < 0.2:
                    ipyjobs.stop_job(job)
                elif action < 0.6:
                    ipyjobs.receive_job(job, keep=True)
                else:
                    received[1].extend(ipyjobs.receive_job(job))
                ipyjobs.get_job(state="Running")
            except JobNotFoundError:
                pass  # listed, then removed by the other thread: a fair answer

    def guarded(target):
        def run() -> None:
            try:
                target()
            except BaseException as error:
                errors.append(error)

        return run

    threads = [threading.Thread(target=guarded(f)) for f in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    jobs = ipyjobs.get_job()
    assert all(job.finished for job in jobs)
    leftover = ipyjobs.receive_job(*jobs) if jobs else []
    values = received[0] + received[1] + leftover
    assert len(values) == len(set(values)), "an output was received twice"
    completed = {job.child_jobs[0].result() for job in jobs if job.state is JobState.COMPLETED}
    assert completed <= set(values) <= set(started)
    assert len(started) >= 50
