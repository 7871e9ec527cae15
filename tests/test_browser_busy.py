"""A job widget's buttons while another cell runs (DESIGN §12): JupyterLab and Notebook 7
in headless Chromium, clicking Stop, Send, Receive, a table row's Remove, and the bell,
during a busy cell.

With subshells (ipykernel >= 7, JupyterLab >= 4.4, Notebook >= 7.4) each click acts while
the cell still runs; without them (the lowest versions allowed), it acts once the cell
ends, as every widget's does."""

from __future__ import annotations

import time
from importlib.metadata import version

import pytest

from tests.browser import ARTIFACTS, notebook_page, restart_kernel, run_cell, serve


def _at_least(package: str, wanted: tuple[int, ...]) -> bool:
    numbers = tuple(int(part) for part in version(package).split(".")[:2] if part.isdigit())
    return numbers >= wanted


#: The front end opens the control channel on a subshell: the clicks act while busy.
FRONT_ENDS = {
    "lab": _at_least("ipykernel", (7, 0)) and _at_least("jupyterlab", (4, 4)),
    "notebook": _at_least("ipykernel", (7, 0)) and _at_least("notebook", (7, 4)),
}


BELL = "Notify me when it ends or waits for input"


def cells(busy_seconds: int) -> list[str]:
    return [
        "import time\n%load_ext ipyjobs",
        "%job_start -n spinner while True: time.sleep(0.05)",
        "%%job -n asker\nname = input('name? ')\nprint('hello', name)",
        "%jobs",
        f"time.sleep({busy_seconds})\nprint('slept')",
    ]


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_stop_send_receive_and_remove_during_a_busy_cell(app, tmp_path):
    subshells = FRONT_ENDS[app]
    with (
        serve(app, cells(60 if subshells else 8), tmp_path) as base,
        notebook_page(base, app, notifications=True) as (page, notebook),
    ):
        for index in range(4):
            run_cell(notebook, index, page)
        spinner = notebook.nth(1).locator(".jp-OutputArea").first
        asker = notebook.nth(2).locator(".jp-OutputArea").first
        table = notebook.nth(3).locator(".jp-OutputArea").first
        spinner.locator(".ipyjobs-live >> text=Running").first.wait_for(timeout=60_000)
        asker.locator(".ipyjobs-asking >> text=name?").wait_for(timeout=60_000)
        table.locator(".ipyjobs-live >> text=Blocked").first.wait_for(timeout=60_000)
        for widget in (asker, table):  # the bells, on the job and on the table
            bell = widget.get_by_role("button", name="Notify me when it ends or waits for input")
            bell.click()
            widget.locator(".ipyjobs-bell[aria-pressed='true']").wait_for(timeout=10_000)

        run_cell(notebook, 4, page)  # the busy cell
        busy = notebook.nth(4)
        busy.locator(".jp-InputPrompt >> text=[*]").wait_for(timeout=30_000)
        page.wait_for_timeout(500)  # well inside the cell

        took = {}
        started = time.monotonic()
        spinner.get_by_role("button", name="Stop").click()
        spinner.locator(".ipyjobs-live >> text=Stopped").first.wait_for(timeout=90_000)
        took["stop"] = time.monotonic() - started

        asker.locator(".ipyjobs-asking input").fill("Ann")
        started = time.monotonic()
        asker.get_by_role("button", name="Send").click()
        asker.locator(".ipyjobs-live >> text=Completed").first.wait_for(timeout=90_000)
        took["send"] = time.monotonic() - started

        started = time.monotonic()
        asker.get_by_role("button", name="Receive").first.click()
        asker.locator(".widget-output >> text=hello Ann").wait_for(timeout=90_000)
        took["receive"] = time.monotonic() - started

        started = time.monotonic()
        row = table.locator("tr", has_text="spinner")
        row.get_by_role("button", name="Remove").click()
        row.wait_for(state="detached", timeout=90_000)
        took["remove"] = time.monotonic() - started
        page.screenshot(path=str(ARTIFACTS / f"busy-{app}.png"))

        still_busy = busy.locator(".jp-InputPrompt >> text=[*]").count() == 1
        shown = busy.locator(".jp-Cell-outputArea").inner_text()
        slept = "slept" in shown
        if subshells:
            assert still_busy and not slept, "the clicks waited for the cell"
            assert max(took.values()) < 1.5, took
        else:  # they acted once the cell ended
            assert slept and took["stop"] > 1.0, took
        assert "hello Ann" not in shown  # never in the running cell
        notified = page.evaluate("window.__notified")
        titles = {n["title"] for n in notified}
        assert "asker Completed" in titles and "spinner Stopped" in titles, notified
        print(f"\n{app} clicks during a busy cell (s): {took}")

        # After a page reload the widgets are live again, and their buttons act.
        if subshells:
            restart_kernel(base, page, "interrupt")
        busy.locator(".jp-InputPrompt >> text=[5]").wait_for(timeout=60_000)
        page.keyboard.press("Control+s")
        page.wait_for_timeout(1000)
        page.reload()
        asker = notebook.nth(2).locator(".jp-OutputArea").first
        asker.locator(".ipyjobs-live >> text=Completed").first.wait_for(timeout=60_000)
        asker.get_by_role("button", name="Remove").first.click()
        asker.locator(".ipyjobs-live >> text=Removed").first.wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / f"busy-{app}-reloaded.png"))
