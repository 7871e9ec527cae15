"""Live widgets in a real kernel, driven through jupyter_client as a frontend would."""

from __future__ import annotations

import pytest

from tests.conftest import eventually
from tests.kernel import Kernel, click, panels

FLOOD = """%%job -n flood
import time
started = time.time()
n = 0
while time.time() - started < 2:
    print("line", n)
    n += 1
n
"""


@pytest.fixture
def kernel():
    kernel = Kernel()
    kernel.execute("%load_ext ipyjobs\nimport time")
    try:
        yield kernel
    finally:
        kernel.shutdown()


def html_values(kernel: Kernel) -> list[str]:
    """What each job widget and table shows (their panels' ``view``)."""
    return [p.get("view", "") for p in panels(kernel) + panels(kernel, "table")]


def wait_for_html(kernel: Kernel, text: str, timeout: float = 20) -> None:
    def shown() -> bool:
        kernel.drain()
        return any(text in value for value in html_values(kernel))

    try:
        eventually(shown, timeout)
    except AssertionError:  # say what the kernel said, and what the widgets showed last
        errors = [
            m["content"]["text"]
            for m in kernel.messages
            if m["msg_type"] == "stream" and m["content"]["name"] == "stderr"
        ]
        raise AssertionError(
            f"no {text!r} in the widgets; kernel stderr: {errors}; "
            f"last views: {html_values(kernel)[-2:]}"
        ) from None


def test_a_started_job_is_a_live_widget_with_stable_text(kernel):
    reply = kernel.execute(
        "%%job -n ticker\nfor i in range(5):\n    print('tick', i)\n    time.sleep(0.2)"
    )
    (bundle,) = kernel.results(reply["msg_id"])
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].splitlines() == [
        "Id  Name    JobType    Location   Command",
        "--  ----    -------    --------   -------",
        "1   ticker  ThreadJob  localhost  for i in range(5): …",
    ]
    assert "Running" not in bundle["text/html"] and "ticker" in bundle["text/html"]
    wait_for_html(kernel, "tick 4")  # the tail updated after the cell finished
    wait_for_html(kernel, ">Completed<")


def test_updates_are_coalesced_however_fast_the_job_prints(kernel):
    kernel.execute(FLOOD)
    wait_for_html(kernel, ">Completed<", timeout=30)
    kernel.drain()
    updates = [m for m in kernel.messages if m["msg_type"] == "comm_msg"]
    # 2 s of printing as fast as possible: about 10 refreshes a second, not thousands.
    assert len(updates) <= 30, len(updates)
    tails = [v for v in html_values(kernel) if "ipyjobs-tail" in v]
    assert tails and tails[-1].count("\n") < 20  # the tail is capped (widget_tail_lines)


def test_progress_bar_appears_once_progress_is_written(kernel):
    kernel.execute(
        "%%job -n prog\nimport ipyjobs\nfor p in (25, 50):\n"
        "    ipyjobs.write_progress(p, status='half')\n    time.sleep(0.3)"
    )

    def bar() -> bool:
        kernel.drain()
        return any(p.get("progress", {}).get("percent") == 50 for p in panels(kernel))

    eventually(bar, 20)


def test_stop_button_stops_the_job(kernel):
    kernel.execute("%job_start -n spin while True: time.sleep(0.01)")
    wait_for_html(kernel, ">Running<")
    click(kernel, "stop")
    wait_for_html(kernel, ">Stopped<")


def test_receive_and_remove_buttons_and_a_removed_job(kernel):
    kernel.execute("%job_start -n r print('hello from r')")
    wait_for_html(kernel, ">Completed<")
    click(kernel, "receive")

    def said(text: str) -> bool:
        kernel.drain()
        return any(
            m["msg_type"] == "comm_msg" and text in str(m["content"]) for m in kernel.messages
        )

    eventually(lambda: said("hello from r"), 20)  # in the widget's Output
    assert "hello from r" not in kernel.stream_text()  # and in no cell
    click(kernel, "remove")
    wait_for_html(kernel, ">Removed<")
    click(kernel, "receive")  # on a removed job: the widget says so, nothing raises
    eventually(lambda: said("was removed"), 20)
    assert not [m for m in kernel.messages if m["msg_type"] == "error"]


def test_jobs_table_follows_jobs_as_they_start_change_and_go(kernel):
    kernel.execute("%jobs")
    wait_for_html(kernel, "No jobs.")
    kernel.execute("a = %job_start -n first time.sleep(0.5)")
    wait_for_html(kernel, "first")
    wait_for_html(kernel, ">Completed<")
    kernel.execute("%job_remove first")

    def emptied() -> bool:
        kernel.drain()
        return [p.get("view") for p in panels(kernel, "table")] == ["<i>No jobs.</i>"]

    eventually(emptied, 20)


def test_displaying_a_job_twice_gives_two_live_widgets(kernel):
    kernel.execute("j = %job_start -n twice time.sleep(0.3)\ndisplay(j)\nj")

    def both_completed() -> bool:
        kernel.drain()
        return sum(">Completed<" in v and "twice" in v for v in html_values(kernel)) >= 2

    eventually(both_completed, 20)


def test_a_job_bound_with_ampersand_shows_its_widget(kernel):
    reply = kernel.execute("x = sum(range(10)) &")
    kernel.drain()
    shown = [
        m["content"]["data"]
        for m in kernel.messages
        if m["msg_type"] == "display_data" and m["parent_header"].get("msg_id") == reply["msg_id"]
    ]
    assert len(shown) == 1 and "application/vnd.jupyter.widget-view+json" in shown[0]
    assert "sum(range(10))" in shown[0]["text/plain"]
    assert kernel.results(reply["msg_id"]) == []  # an assignment shows no value
    wait_for_html(kernel, ">Completed<")


def test_the_widget_shows_one_row_a_failure_reason_stderr_and_what_it_recorded(kernel):
    kernel.execute(
        "%%job -n bad\n"
        "import sys, warnings\n"
        "print('out line')\n"
        "print('err line', file=sys.stderr)\n"
        "warnings.warn('careful')\n"
        "raise ValueError('bad data in row 7')"
    )
    wait_for_html(kernel, ">Failed<")
    (view,) = [v for v in html_values(kernel) if "ipyjobs-live" in v][-1:]
    assert view.count("<tr>") == 2  # the head and one row: its single child is not repeated
    assert "ValueError: bad data in row 7" in view.split("ipyjobs-reason")[1]
    assert "out line" in view
    assert 'class="ipyjobs-stderr"' in view and "err line" in view.split("ipyjobs-stderr")[1]
    assert "Also recorded: 1 warning, 1 error" in view
