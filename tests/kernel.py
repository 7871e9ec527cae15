"""A real IPython kernel driven through jupyter_client, keeping every iopub message."""

from __future__ import annotations

import os
import queue
import signal
import time
import uuid
from typing import Any

from jupyter_client.manager import start_new_kernel


class Kernel:
    def __init__(self) -> None:
        self.manager, self.client = start_new_kernel(kernel_name="python3")
        self.messages: list[dict[str, Any]] = []  # every iopub message, in arrival order

    def execute(self, code: str, timeout: float = 60) -> dict[str, Any]:
        """Run a cell and wait until the kernel is idle after it; returns the reply.
        ipykernel 6 aborts a request that arrives in the moment after a cell failed
        (``stop_on_error``), before it lets go of its queue: such a cell runs again."""
        reply = self._execute(code, timeout)
        if reply["content"]["status"] == "aborted":
            reply = self._execute(code, timeout)
        return reply

    def _execute(self, code: str, timeout: float) -> dict[str, Any]:
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


def panels(kernel: Kernel, kind: str = "job") -> list[dict[str, Any]]:
    """The state of each job widget's panel (``kind="table"``: each table's), in order."""
    return [
        state
        for state in widget_states(kernel).values()
        if state.get("_model_name") == "AnyModel" and state.get("kind") == kind
    ]


def create_subshell(kernel: Kernel) -> str:
    """A new kernel subshell's id (ipykernel >= 7), as JupyterLab asks for one."""
    kernel.client.control_channel.send(kernel.client.session.msg("create_subshell_request", {}))
    reply = kernel.client.get_control_msg(timeout=30)
    assert reply["content"]["status"] == "ok", reply["content"]
    return reply["content"]["subshell_id"]


class Controls:
    """A job widget's front end as the browser runs it (ipyjobs/ipython/widget_front.js):
    it opens the ``ipyjobs.control`` comm, on ``subshell`` when given, and asks the kernel
    to act for a panel, by the ``key`` its model carries. Replies are read from iopub by
    their request id, so this works while a cell runs."""

    def __init__(self, kernel: Kernel, subshell: str | None = None) -> None:
        self.kernel = kernel
        self.subshell = subshell
        self.comm_id = uuid.uuid4().hex
        self.requests = 0
        self._send(
            "comm_open", {"comm_id": self.comm_id, "target_name": "ipyjobs.control", "data": {}}
        )

    def _send(self, msg_type: str, content: dict[str, Any]) -> None:
        message = self.kernel.client.session.msg(msg_type, content)
        if self.subshell is not None:
            message["header"]["subshell_id"] = self.subshell
        self.kernel.client.shell_channel.send(message)

    def ask(
        self, action: str, panel: dict[str, Any], timeout: float = 30, **extra: Any
    ) -> dict[str, Any]:
        """Ask for ``action`` on ``panel`` and wait for the reply (``{request, message}``)."""
        self.requests += 1
        request = f"r{self.requests}"
        data = {"action": action, "key": panel["key"], "request": request, **extra}
        self._send("comm_msg", {"comm_id": self.comm_id, "data": data})
        return reply_to(self.kernel, self.comm_id, request, timeout)


def reply_to(kernel: Kernel, comm_id: str, request: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        for message in kernel.messages:
            content = message["content"]
            if (
                message["msg_type"] == "comm_msg"
                and content.get("comm_id") == comm_id
                and isinstance(content.get("data"), dict)
                and content["data"].get("request") == request
            ):
                return content["data"]
        if time.monotonic() > deadline:
            raise AssertionError(f"no reply to {request} in {timeout} s")
        kernel.drain(0.05)


def click(kernel: Kernel, action: str, index: int = -1, **extra: Any) -> None:
    """Click a job widget's button (the last widget shown, by default) as a front end
    without a control channel does: a custom message on the panel's own comm, handled
    when the kernel is idle. ``action``: stop, receive, remove or send."""
    comm_id, state = [
        (comm_id, state)
        for comm_id, state in widget_states(kernel).items()
        if state.get("_model_name") == "AnyModel" and state.get("kind") == "job"
    ][index]
    content = {"action": action, "key": state["key"], "request": uuid.uuid4().hex, **extra}
    message = kernel.client.session.msg(
        "comm_msg",
        {"comm_id": comm_id, "data": {"method": "custom", "content": content}},
    )
    kernel.client.shell_channel.send(message)
