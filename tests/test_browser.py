"""What a notebook analyst sees: JupyterLab in headless Chromium (Debian's, driven by
playwright), a live job widget, and its Stop button."""

from __future__ import annotations

import os
import time

import pytest
from playwright.sync_api import sync_playwright

from tests.browser import (
    ARTIFACTS,
    kernel_state,
    launch_chromium,
    notebook_page,
    open_notebook,
    restart_kernel,
    run_cell,
    serve,
)
from tests.conftest import eventually

CELLS = [
    "%load_ext ipyjobs",
    "%%job -n ticker\nimport time\nfor i in range(10):\n    print(f'tick {i}')\n"
    "    time.sleep(0.3)",
    "import time\ntime.sleep(1)\nprint('second cell')",
    "%job_start -n spinner while True: time.sleep(0.05)",
]


@pytest.fixture
def lab(tmp_path, request):
    """JupyterLab on 127.0.0.1 with one notebook (``CELLS``, or the cells the test gives
    as the fixture's parameter); stopped, with its kernels, afterwards."""
    with serve("lab", getattr(request, "param", CELLS), tmp_path) as base:
        yield base


def test_live_widget_in_jupyterlab(lab):
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            cells = open_notebook(page, lab, "live.ipynb")
            cells.nth(0).locator(".jp-InputPrompt").click()
            for _ in range(3):  # load, start the ticker, then the second cell
                page.keyboard.press("Shift+Enter")
            ticker = cells.nth(1).locator(".jp-OutputArea")
            ticker.locator(".ipyjobs-live >> text=Running").first.wait_for(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "browser-running.png"))
            tail = ticker.locator(".ipyjobs-tail")
            seen: list[int] = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                text = tail.inner_text() if tail.count() else ""
                count = text.count("tick")
                if not seen or count != seen[-1]:
                    seen.append(count)
                if count == 10:
                    break
                page.wait_for_timeout(50)
            assert seen[-1] == 10, seen
            assert len(seen) >= 5, seen  # the lines arrived one by one, not all at the end
            ticker.locator(".ipyjobs-live >> text=Completed").first.wait_for(timeout=30_000)
            second = cells.nth(2).locator(".jp-OutputArea")
            second.locator("text=second cell").wait_for(timeout=30_000)
            assert "tick" not in second.inner_text()
            page.screenshot(path=str(ARTIFACTS / "browser-completed.png"))
            page.keyboard.press("Shift+Enter")  # the fourth cell: a spinner to stop
            spinner = cells.nth(3).locator(".jp-OutputArea")
            spinner.locator(".ipyjobs-live >> text=Running").first.wait_for(timeout=30_000)
            spinner.get_by_role("button", name="Stop").click()
            spinner.locator(".ipyjobs-live >> text=Stopped").first.wait_for(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "browser-stopped.png"))
            # The kernel restarts under the live widgets: nothing may raise into the page.
            restart_kernel(lab, page)
            eventually(lambda: kernel_state(lab) == "idle", timeout=60)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(ARTIFACTS / "browser-restarted.png"))
            assert "Stopped" in cells.nth(3).locator(".jp-Cell-outputArea").inner_text()
            assert not page.locator(
                ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
            ).count()
        finally:
            browser.close()


DETACHED_CELLS = [
    "%config JobManager.store_dir = 'job-store'\n%load_ext ipyjobs",
    "%%job -d -n ticker\nimport time\nfor i in range(3000):\n    print(f'tick {i}', flush=True)\n"
    "    time.sleep(0.1)",
    "%jobs",
    "%job_stop ticker",
]


@pytest.mark.parametrize("lab", [DETACHED_CELLS], indirect=True)
def test_a_detached_jobs_widget_is_live_again_after_a_restart(lab, tmp_path):
    from ipyjobs.backends.store import JobStore, is_alive

    try:
        with notebook_page(lab) as (page, cells):
            run_cell(cells, 0, page)
            run_cell(cells, 1, page)
            started = cells.nth(1).locator(".jp-OutputArea")
            started.locator(".ipyjobs-live >> text=Running").first.wait_for(timeout=30_000)
            restart_kernel(lab, page)  # Kernel > Restart: the job runs on
            eventually(lambda: kernel_state(lab) == "idle", timeout=60)
            run_cell(cells, 0, page)  # load ipyjobs again: it finds the job
            run_cell(cells, 2, page)  # %jobs
            table = cells.nth(2).locator(".jp-OutputArea")
            table.locator("text=ticker").first.wait_for(timeout=30_000)
            table.locator("text=Running").first.wait_for(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "browser-detached-reattached.png"))
            run_cell(cells, 3, page)  # %job_stop: the table follows it live
            table.locator("text=Stopped").first.wait_for(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "browser-detached-stopped.png"))
    finally:
        store = tmp_path / "job-store"
        if store.exists():
            for row in JobStore(str(store)).jobs():
                if is_alive(row.pid, row.pid_start):
                    os.kill(row.pid, 9)


INTERACTIVE_CELLS = [
    "%load_ext ipyjobs",
    "x = input('name? ') + '!' &",
    "%jobs",
]


@pytest.mark.parametrize("lab", [INTERACTIVE_CELLS], indirect=True)
def test_a_blocked_job_is_answered_from_its_widget_in_both_themes(lab):
    """``x = input(...) &`` shows its widget; Blocked, it shows the prompt, a field and
    Send; the table shows Blocked; both are screenshotted in the light and dark themes."""
    with notebook_page(lab) as (page, cells):
        run_cell(cells, 0, page)
        run_cell(cells, 1, page)
        widget = cells.nth(1).locator(".jp-OutputArea")
        asking = widget.locator(".ipyjobs-asking")
        asking.locator("text=name?").wait_for(timeout=30_000)
        widget.locator(".ipyjobs-live >> text=Blocked").first.wait_for(timeout=30_000)
        run_cell(cells, 2, page)
        table = cells.nth(2).locator(".jp-OutputArea")
        table.locator(".ipyjobs-live >> text=Blocked").first.wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "browser-blocked-light.png"))
        page.evaluate(
            "window.jupyterapp.commands.execute("
            "'apputils:change-theme', {theme: 'JupyterLab Dark'})"
        )
        page.wait_for_selector(
            "body[data-jp-theme-light='false']", state="attached", timeout=30_000
        )
        page.wait_for_function(  # the dark stylesheet is in force before the screenshot
            "getComputedStyle(document.querySelector('.jp-Notebook')).backgroundColor"
            " !== 'rgb(255, 255, 255)'"
        )
        page.screenshot(path=str(ARTIFACTS / "browser-blocked-dark.png"))
        asking.locator("input").first.fill("Ann")
        asking.get_by_role("button", name="Send").click()
        widget.locator(".ipyjobs-live >> text=Completed").first.wait_for(timeout=30_000)
        widget.locator(".ipyjobs-tail >> text=name? Ann").wait_for(timeout=30_000)
        assert not asking.is_visible()
        table.locator(".ipyjobs-live >> text=Completed").first.wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "browser-answered-dark.png"))
