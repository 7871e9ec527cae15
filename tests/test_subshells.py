"""The magics from a kernel subshell while the main shell runs a cell (DESIGN §12): what
JupyterLab's subshell console, or any client that sends ``subshell_id``, does. A real
kernel through jupyter_client: ``create_subshell_request`` on the control channel, then
``execute_request`` with the subshell's id in its header (jupyter_client has no helper)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.kernel import Kernel
from tests.test_widget_controls import cell_ended, interrupt


@pytest.fixture
def kernel():
    kernel = Kernel()
    try:
        info = kernel.client.kernel_info(reply=True, timeout=60)["content"]
        if "kernel subshells" not in info.get("supported_features", []):
            pytest.skip("this ipykernel has no subshells (7.0 and newer have them)")
        kernel.execute("%load_ext ipyjobs")
        yield kernel
    finally:
        kernel.shutdown()


def create_subshell(kernel: Kernel) -> str:
    kernel.client.control_channel.send(kernel.client.session.msg("create_subshell_request", {}))
    reply = kernel.client.get_control_msg(timeout=30)
    assert reply["content"]["status"] == "ok", reply["content"]
    return reply["content"]["subshell_id"]


def in_subshell(kernel: Kernel, subshell: str, code: str) -> tuple[dict[str, Any], float]:
    """Run ``code`` on ``subshell``: its reply and how long it took."""
    message = kernel.client.session.msg(
        "execute_request",
        {"code": code, "silent": False, "store_history": False, "allow_stdin": False},
    )
    message["header"]["subshell_id"] = subshell
    started = time.monotonic()
    kernel.client.shell_channel.send(message)
    while True:
        reply = kernel.client.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == message["header"]["msg_id"]:
            reply["msg_id"] = message["header"]["msg_id"]
            return reply, time.monotonic() - started


def output(kernel: Kernel, msg_id: str) -> str:
    """What the request showed: its stream text and its results' text/plain."""
    kernel.drain(0.5)
    parts = []
    for message in kernel.messages:
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        if message["msg_type"] == "stream":
            parts.append(message["content"]["text"])
        elif message["msg_type"] == "execute_result":
            parts.append(message["content"]["data"]["text/plain"])
    return "".join(parts)


def test_the_magics_answer_from_a_subshell_while_the_main_shell_runs_a_cell(kernel):
    kernel.execute('%%job -n asker\nname = input("name? ")\nprint("hello", name)')
    kernel.execute("%%job -n spin\nwhile True: pass")
    kernel.execute("import time")
    subshell = create_subshell(kernel)
    busy = kernel.client.execute("time.sleep(15)")
    while True:  # the main shell took the cell: it is busy from now on
        message = kernel.client.get_iopub_msg(timeout=30)
        kernel.messages.append(message)
        if message["parent_header"].get("msg_id") == busy and message["msg_type"] == "status":
            break

    listing, took = in_subshell(kernel, subshell, "%jobs")
    assert listing["content"]["status"] == "ok" and took < 1.0
    table = output(kernel, listing["msg_id"])
    assert "asker" in table and "Blocked" in table and "spin" in table

    answered, took = in_subshell(kernel, subshell, "%job_input asker Ann")
    assert answered["content"]["status"] == "ok" and took < 1.0
    stopped, took = in_subshell(kernel, subshell, "%job_stop spin")
    assert stopped["content"]["status"] == "ok" and took < 3.0
    assert "Stopped" in output(kernel, stopped["msg_id"])

    received, took = in_subshell(kernel, subshell, "%job_receive asker")
    assert received["content"]["status"] == "ok" and took < 1.0
    assert "hello Ann" in output(kernel, received["msg_id"])

    # All of it while the main shell still ran its cell, whose reply comes after.
    assert not cell_ended(kernel, busy)
    interrupt(kernel, busy)
