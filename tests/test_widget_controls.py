"""A job widget's buttons while the notebook runs another cell (DESIGN §12), in a real
kernel through jupyter_client, with the front end's part played by ``tests.kernel.Controls``
as ``ipyjobs/ipython/widget_front.js`` plays it in the browser: it opens the
``ipyjobs.control`` comm on a kernel subshell and asks for Stop, Send, Receive and Remove.
The browser tests click the real buttons (tests/test_browser_busy.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import eventually
from tests.kernel import Controls, Kernel, create_subshell, panels


@pytest.fixture
def kernel():
    kernel = Kernel()
    try:
        kernel.execute("%load_ext ipyjobs\nimport time")
        yield kernel
    finally:
        kernel.shutdown()


def has_subshells(kernel: Kernel) -> bool:
    info = kernel.client.kernel_info(reply=True, timeout=60)["content"]
    return "kernel subshells" in info.get("supported_features", [])


def panel_of(kernel: Kernel, name: str) -> dict[str, Any]:
    kernel.drain(0.05)
    return next(p for p in reversed(panels(kernel)) if p["jobs"][0]["name"] == name)


def start_busy_cell(kernel: Kernel, seconds: float) -> str:
    """Run ``time.sleep(seconds)`` on the main shell; return once the kernel took it."""
    busy = kernel.client.execute(f"time.sleep({seconds})")
    while True:
        message = kernel.client.get_iopub_msg(timeout=30)
        kernel.messages.append(message)
        if message["parent_header"].get("msg_id") == busy and message["msg_type"] == "status":
            return busy


def cell_ended(kernel: Kernel, msg_id: str) -> bool:
    return any(
        m["parent_header"].get("msg_id") == msg_id
        and m["msg_type"] == "status"
        and m["content"]["execution_state"] == "idle"
        for m in kernel.messages
    )


def interrupt(kernel: Kernel, busy: str) -> None:
    """End the busy cell, and wait for its end (a kernel shut down in the middle of
    replying logs a ZMQ error)."""
    kernel.manager.interrupt_kernel()

    def ended() -> bool:
        kernel.drain(0.05)
        return cell_ended(kernel, busy)

    eventually(ended, 30)


def shown_within(kernel: Kernel, name: str, text: str, seconds: float) -> float:
    """How long until ``name``'s widget shows ``text`` (failing after ``seconds``)."""
    started = time.monotonic()
    eventually(lambda: text in panel_of(kernel, name)["view"], seconds)
    return time.monotonic() - started


def test_stop_send_receive_and_remove_act_while_a_cell_runs(kernel):
    if not has_subshells(kernel):
        pytest.skip("this ipykernel has no subshells (7.0 and newer have them)")
    kernel.execute("%job_start -n spin while True: time.sleep(0.01)")
    kernel.execute("%%job -n asker\nname = input('name? ')\nprint('hello', name)")
    kernel.execute("%job_start -n done print('finished early')")
    eventually(lambda: panel_of(kernel, "asker")["jobs"][0]["state"] == "Blocked", 20)
    eventually(lambda: panel_of(kernel, "done")["jobs"][0]["state"] == "Completed", 20)
    controls = Controls(kernel, create_subshell(kernel))
    busy = start_busy_cell(kernel, 20)

    started = time.monotonic()
    assert controls.ask("stop", panel_of(kernel, "spin")) == {"request": "r1", "message": ""}
    assert time.monotonic() - started < 1.0
    assert shown_within(kernel, "spin", ">Stopped<", 3) < 1.0

    started = time.monotonic()
    controls.ask("send", panel_of(kernel, "asker"), answer="Ann")
    assert shown_within(kernel, "asker", ">Completed<", 3) < 1.0
    assert "hello Ann" in panel_of(kernel, "asker")["view"]

    started = time.monotonic()
    controls.ask("receive", panel_of(kernel, "asker"))
    assert time.monotonic() - started < 1.0

    def in_its_output() -> bool:  # the widget's Output model, updated from the kernel
        kernel.drain(0.05)
        return any(
            m["msg_type"] == "comm_msg" and "hello Ann" in str(m["content"]["data"].get("state"))
            for m in kernel.messages
        )

    eventually(in_its_output, 3)
    assert "hello Ann" not in kernel.stream_text(busy)  # never in the running cell

    controls.ask("remove", panel_of(kernel, "done"))
    assert shown_within(kernel, "done", ">Removed<", 3) < 1.0
    refused = controls.ask("remove", panel_of(kernel, "done"))
    assert "was removed" in refused["message"]  # one line for the widget, nothing raised

    assert not cell_ended(kernel, busy)  # all of it while the cell still ran
    interrupt(kernel, busy)


def test_without_a_subshell_a_click_acts_once_the_cell_ends(kernel):
    """ipykernel 6, or a front end that opens the channel on the main shell: the click
    waits for the running cell, as every widget's does, and then acts."""
    kernel.execute("%job_start -n spin while True: time.sleep(0.01)")
    eventually(lambda: panel_of(kernel, "spin")["jobs"][0]["state"] == "Running", 20)
    controls = Controls(kernel)  # no subshell: the main shell
    busy = start_busy_cell(kernel, 2)
    reply = controls.ask("stop", panel_of(kernel, "spin"))
    assert reply["message"] == "" and cell_ended(kernel, busy)
    shown_within(kernel, "spin", ">Stopped<", 5)


def test_the_jobs_tables_rows_act_while_a_cell_runs(kernel):
    if not has_subshells(kernel):
        pytest.skip("this ipykernel has no subshells (7.0 and newer have them)")
    kernel.execute("%job_start -n spin while True: time.sleep(0.01)")
    kernel.execute("%%job -n asker\nname = input('name? ')\nprint('hello', name)")
    kernel.execute("%jobs")

    def table() -> dict[str, Any]:
        kernel.drain(0.05)
        return panels(kernel, "table")[-1]

    def row(name: str) -> dict[str, Any]:
        return next(j for j in table()["jobs"] if j["name"] == name)

    eventually(lambda: row("asker")["state"] == "Blocked", 20)
    assert 'class="ipyjobs-actions"' in table()["view"]  # where each row's buttons go
    controls = Controls(kernel, create_subshell(kernel))
    busy = start_busy_cell(kernel, 20)
    started = time.monotonic()
    controls.ask("stop", table(), job=row("spin")["id"])
    controls.ask("send", table(), job=row("asker")["id"], answer="Ann")
    eventually(lambda: row("spin")["state"] == "Stopped" and row("asker")["finished"], 3)
    controls.ask("receive", table(), job=row("asker")["id"])
    controls.ask("remove", table(), job=row("spin")["id"])
    eventually(lambda: "spin" not in table()["view"], 3)
    assert time.monotonic() - started < 3.0
    gone = controls.ask("stop", table(), job=999)
    assert gone["message"] == "job 999 is no longer listed"
    assert "hello Ann" not in kernel.stream_text(busy) and not cell_ended(kernel, busy)
    interrupt(kernel, busy)
