"""Run by test_memory: a job prints LINES lines of 100 characters under a given in-memory
bound; report the peak memory growth while it ran and whether every line was received, in
order. Usage: flood.py LIMIT LINES"""

import json
import sys

import psutil

import ipyjobs

PAD = "x" * 90


def flood(lines):
    for i in range(lines):
        print(f"{i:08d} {PAD}")


def main(limit: int, lines: int) -> None:
    ipyjobs.set_manager(ipyjobs.JobManager(text_memory_limit=limit))
    process = psutil.Process()
    ipyjobs.start_job(len, "").wait(5)  # warm up imports and the first worker
    base = peak = process.memory_info().rss
    job = ipyjobs.start_job(flood, lines)
    while not job.child_jobs[0].wait_until_finished(0.01):  # sample every 10 ms
        peak = max(peak, process.memory_info().rss)
    spilled = job.child_jobs[0].records.spill_folder is not None
    text = "".join(r.value for r in job.receive(raw=True))
    received = text.split("\n")
    intact = received[:-1] == [f"{i:08d} {PAD}" for i in range(lines)] and received[-1] == ""
    ipyjobs.get_manager().shutdown()
    print(json.dumps({"growth": peak - base, "intact": intact, "spilled": spilled}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
