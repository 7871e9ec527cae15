"""A real IPython kernel driven through jupyter_client, keeping every iopub message."""

from __future__ import annotations

import os
import queue
import signal
import time
from typing import Any

from jupyter_client.manager import start_new_kernel


class Kernel:
    def __init__(self) -> None:
        self.manager, self.client = start_new_kernel(kernel_name="python3")
        self.messages: list[dict[str, Any]] = []  # every iopub message, in arrival order

    def execute(self, code: str, timeout: float = 60) -> dict[str, Any]:
        """Run a cell and wait until the kernel is idle after it; returns the reply."""
        msg_id = self.client.execute(code)
        idle = False
        while not idle:
            message = self.client.get_iopub_msg(timeout=timeout)
            self.messages.append(message)
            idle = (
                message["msg_type"] == "status"
                and message["content"]["execution_state"] == "idle"
                and message["parent_header"].get("msg_id") == msg_id
            )
        while True:  # skip stale replies (under load, kernel_info may have been asked twice)
            reply = self.client.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                reply["msg_id"] = msg_id
                return reply

    def drain(self, seconds: float = 0.3) -> None:
        """Keep the iopub messages that arrive within ``seconds`` (live widgets never go
        quiet while their job runs, so this is bounded by time, not by silence)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.messages.append(self.client.get_iopub_msg(timeout=left))
            except queue.Empty:
                return

    def stream_text(self, msg_id: str | None = None) -> str:
        return "".join(
            m["content"]["text"]
            for m in self.messages
            if m["msg_type"] == "stream"
            and (msg_id is None or m["parent_header"].get("msg_id") == msg_id)
        )

    def results(self, msg_id: str) -> list[dict[str, Any]]:
        return [
            m["content"]["data"]
            for m in self.messages
            if m["msg_type"] == "execute_result" and m["parent_header"].get("msg_id") == msg_id
        ]

    def kill(self) -> int:
        """SIGKILL the kernel's process and reap it (a killed child left unwaited stays a
        zombie of the test process); returns its pid."""
        process = self.manager.provisioner.process
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
        return process.pid

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=False)


def widget_states(kernel: Kernel) -> dict[str, dict[str, Any]]:
    """Each widget model's latest state, from comm_open and comm_msg updates."""
    models: dict[str, dict[str, Any]] = {}
    for message in kernel.messages:
        content = message["content"]
        if message["msg_type"] == "comm_open":
            models[content["comm_id"]] = dict(content["data"].get("state", {}))
        elif message["msg_type"] == "comm_msg" and content["data"].get("method") == "update":
            models.setdefault(content["comm_id"], {}).update(content["data"]["state"])
    return models


def click(kernel: Kernel, description: str, index: int = -1) -> None:
    """Click the button labelled ``description`` (the last one shown, by default), as the
    frontend does: a custom 'click' message on the button's comm."""
    buttons = [
        comm_id
        for comm_id, state in widget_states(kernel).items()
        if state.get("_model_name") == "ButtonModel" and state.get("description") == description
    ]
    message = kernel.client.session.msg(
        "comm_msg",
        {"comm_id": buttons[index], "data": {"method": "custom", "content": {"event": "click"}}},
    )
    kernel.client.shell_channel.send(message)


def set_value(kernel: Kernel, comm_id: str, value: Any) -> None:
    """Set a widget's ``value`` as the frontend does when the user types into it."""
    message = kernel.client.session.msg(
        "comm_msg",
        {"comm_id": comm_id, "data": {"method": "update", "state": {"value": value}}},
    )
    kernel.client.shell_channel.send(message)
