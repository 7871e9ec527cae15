"""A job printing far past the in-memory bound keeps memory flat and loses nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parent / "scripts" / "flood.py"
MB = 1 << 20


def run_flood(limit: int, lines: int) -> dict:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(limit), str(lines)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_memory_stays_flat_past_the_bound_and_every_line_arrives():
    # 160 MB of text through a 64 kB bound. What stays in memory is the bound plus at
    # most stdout_capture.CHUNK_BACKLOG chunks, which the printing thread collects itself:
    # measured about 2 MB under this flood, whatever the total (30-80 MB when only the
    # collector thread drained the inbox, which the flood kept from the GIL); the file
    # takes the rest, and every line comes back in order.
    bounded = run_flood(64 * 1024, 1_600_000)
    assert bounded["spilled"] and bounded["intact"]
    assert bounded["growth"] < 16 * MB, bounded
    # The same job without the bound holds its whole output (160 MB of text): this
    # test can fail.
    unbounded = run_flood(1 << 30, 1_600_000)
    assert unbounded["intact"] and not unbounded["spilled"]
    assert unbounded["growth"] > 120 * MB, unbounded
