"""Click to effect: a job widget's Stop during a busy cell, against the same click on an
idle kernel, in JupyterLab and Notebook 7 in headless Chromium (DESIGN §12; target: within
a second while busy).

Each front end's notebook starts ``CLICKS`` spinning thread jobs, each shown as its
widget. Half are stopped from their widget while the kernel is idle, half while a
``time.sleep`` cell runs; each time is from just before playwright's click to the widget
showing Stopped (so it includes playwright's own click, some 40-100 ms, and the widget
updater's interval, 0.1 s). Median and worst of each, and the busy/idle ratio. Without
subshells (ipykernel 6) the busy clicks wait for the cell, as every widget's do.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.browser import notebook_page, run_cell, serve

CLICKS = 8
CELLS = [
    "import time, ipyjobs\n%load_ext ipyjobs",
    "def spin():\n    while True:\n        time.sleep(0.01)\n"
    f"for i in range({2 * CLICKS}):\n    display(ipyjobs.start_job(spin, name=f'spin{{i}}'))",
    "time.sleep(120)",
]


def stop_takes(page, widgets, index: int) -> float:
    widget = widgets.nth(index)
    started = time.monotonic()
    widget.get_by_role("button", name="Stop").click()
    widget.locator(".ipyjobs-live >> text=Stopped").first.wait_for(timeout=180_000)
    return time.monotonic() - started


def measure(app: str) -> dict[str, list[float]]:
    with (
        tempfile.TemporaryDirectory() as folder,
        serve(app, CELLS, Path(folder)) as base,
        notebook_page(base, app) as (page, cells),
    ):
        run_cell(cells, 0, page)
        run_cell(cells, 1, page)
        widgets = cells.nth(1).locator(".ipyjobs-front-job")
        widgets.nth(2 * CLICKS - 1).locator("text=Running").first.wait_for(timeout=60_000)
        idle = [stop_takes(page, widgets, i) for i in range(CLICKS)]
        run_cell(cells, 2, page)
        cells.nth(2).locator(".jp-InputPrompt >> text=[*]").wait_for(timeout=30_000)
        page.wait_for_timeout(500)
        busy = [stop_takes(page, widgets, CLICKS + i) for i in range(CLICKS)]
    return {"idle": idle, "busy": busy}


def main() -> int:
    for app, name in (("lab", "JupyterLab"), ("notebook", "Notebook 7")):
        times = measure(app)
        idle, busy = times["idle"], times["busy"]
        print(
            f"{name:10} Stop click to Stopped shown, ms: "
            f"idle median {1000 * statistics.median(idle):5.0f} worst {1000 * max(idle):5.0f}; "
            f"busy cell median {1000 * statistics.median(busy):5.0f} "
            f"worst {1000 * max(busy):5.0f} "
            f"({statistics.median(busy) / statistics.median(idle):.2f}x idle; target < 1000 ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
