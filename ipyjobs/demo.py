"""``make demo``: ipyjobs' main job in one minute, headless, with thread jobs.

Starts jobs, keeps working while they run, lists them, receives partial output, waits,
receives the rest, shows a failure's reason, stops a runaway job and removes everything.
Each step checks what it shows, so a broken install exits non-zero.
"""

from __future__ import annotations

import sys
import time

import ipyjobs
from ipyjobs.model.formatting import job_table


def count_primes(limit: int) -> int:
    """A slow function that reports progress and prints as it goes."""
    found = 0
    for n in range(2, limit):
        if all(n % d for d in range(2, int(n**0.5) + 1)):
            found += 1
        if n % (limit // 4) == 0:
            print(f"checked {n} numbers, {found} primes so far")
            ipyjobs.write_progress(100 * n / limit, status="counting")
    return found


def runaway() -> None:
    while True:  # never checks for a stop: it is stopped asynchronously
        pass


def show(title: str, code: str, value: object = None) -> None:
    print(f"\n# {title}\n>>> {code}")
    if value is not None:
        print(value)


def main() -> int:
    started = time.perf_counter()
    primes = ipyjobs.start_job(count_primes, 60_000, name="primes")
    elapsed = time.perf_counter() - started
    snippet = ipyjobs.start_job("total = sum(range(1_000_000))\nprint('summed')\ntotal")
    broken = ipyjobs.start_job("1 / 0", name="broken")
    show(
        "Start jobs: the prompt comes back at once",
        'ipyjobs.start_job(count_primes, 60_000, name="primes")',
        f"returned after {1000 * elapsed:.1f} ms (the first start also sets ipyjobs up)",
    )

    show("List them (Get-Job)", "ipyjobs.get_job()", job_table(ipyjobs.get_job()))

    ipyjobs.wait_job(primes, snippet, broken, timeout=60)
    show("Wait for them (Wait-Job)", "ipyjobs.wait_job()", job_table(ipyjobs.get_job()))

    show("Receive, keeping the results (Receive-Job -Keep)", "primes.receive(keep=True)")
    kept = primes.receive(keep=True)
    assert kept == [6057], kept
    print(kept)
    show("Receive again: the results are handed over and removed", "primes.receive()")
    assert primes.receive() == [6057]
    assert not primes.has_more_data and primes.receive() == []
    print("[6057]  (a third receive returns [])")

    show("A code string ran in __main__", "ipyjobs.receive_job(snippet)")
    assert ipyjobs.receive_job(snippet) == [499999500000]

    show("A failed job keeps its reason", "broken.state, broken.reason")
    print((broken.state.value, broken.reason))
    assert broken.state == "Failed" and isinstance(broken.reason, ZeroDivisionError)

    loop = ipyjobs.start_job(runaway, name="runaway")
    before = time.perf_counter()
    ipyjobs.stop_job(loop)
    show(
        "Stop a runaway loop (Stop-Job)",
        "ipyjobs.stop_job(loop)",
        f"{loop.state.value} after {1000 * (time.perf_counter() - before):.1f} ms",
    )
    assert loop.state == "Stopped"

    ipyjobs.remove_job(state="Completed")
    ipyjobs.remove_job(state="Failed")
    ipyjobs.remove_job(state="Stopped")
    show("Remove them (Remove-Job)", 'ipyjobs.remove_job(state="Completed")')
    assert ipyjobs.get_job() == []
    ipyjobs.get_manager().shutdown()
    print("\nDemo finished: every step checked.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
