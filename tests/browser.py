"""JupyterLab and Notebook 7 in headless Chromium (Debian's, driven by playwright), for the
browser tests: a server on 127.0.0.1 with one notebook, and a page on it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook
from playwright.sync_api import sync_playwright

from tests.conftest import eventually

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
#: The notebook's address under each front end.
NOTEBOOK_URL = {"lab": "/lab/tree/{}", "notebook": "/notebooks/{}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(app: str, cells: Sequence[str], folder: Path) -> Iterator[str]:
    """JupyterLab (``app="lab"``) or Notebook 7 (``"notebook"``) on 127.0.0.1 with one
    notebook, ``live.ipynb``, of ``cells``; yields its base URL; stopped, with its
    kernels, afterwards."""
    notebook = new_notebook(cells=[new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nbformat.write(notebook, folder / "live.ipynb")
    config = folder / "config"
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    # No news toast over the cells.
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    port = free_port()
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(folder / "runtime"),
    )
    command = [
        sys.executable,
        "-m",
        "jupyterlab" if app == "lab" else "notebook",
        "--no-browser",
        "--ServerApp.token=",
        "--ServerApp.password=",
        "--ServerApp.ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={folder}",
    ]
    if app == "lab":
        command.append("--LabApp.expose_app_in_browser=True")  # window.jupyterapp: themes
    if os.geteuid() == 0:
        command.append("--allow-root")
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        try:
            return urllib.request.urlopen(f"{base}/api/status", timeout=2).status == 200
        except OSError:
            return False

    try:
        eventually(answering, timeout=60)
        yield base
    finally:
        server.terminate()
        server.wait(30)


def kernel_state(base: str) -> str | None:
    """The notebook's kernel state as the server sees it (None before it exists). Once a
    subshell was used this reads "idle" while the main shell is still busy (the server
    follows every status message): wait for a cell's output instead."""
    found = json.load(urllib.request.urlopen(f"{base}/api/sessions", timeout=5))
    return found[0]["kernel"]["execution_state"] if found else None


def restart_kernel(base: str, page, what: str = "restart") -> None:
    """Restart (or ``what="interrupt"``) the notebook's kernel as JupyterLab does: a POST
    with the XSRF cookie."""
    (session,) = json.load(urllib.request.urlopen(f"{base}/api/sessions", timeout=5))
    xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_xsrf")
    response = page.request.post(
        f"{base}/api/kernels/{session['kernel']['id']}/{what}",
        headers={"X-XSRFToken": xsrf},
    )
    assert response.ok, response.status


def launch_chromium(p):
    return p.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    )


def open_notebook(page, base: str, name: str = "live.ipynb", app: str = "lab"):
    """The notebook open and its kernel idle, toasts and dialogs out of the way."""
    # Notebook 7 asks "Trust this notebook?" some seconds after opening one it did not
    # write; whenever a dialog covers the page before an action, it is accepted.
    page.add_locator_handler(
        page.locator(".jp-Dialog .jp-mod-accept"),
        lambda accept: accept.click(),
    )
    page.goto(base + NOTEBOOK_URL[app].format(name))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    eventually(lambda: kernel_state(base) == "idle", timeout=60)
    no = page.get_by_role("button", name="No", exact=True)  # a news toast, if any
    if no.count():
        no.first.click()
    return page.locator(".jp-Notebook .jp-Cell")


@contextlib.contextmanager
def notebook_page(base: str, app: str = "lab", notifications: bool = False):
    """Headless Chromium on the server's notebook: (page, its cells); closed after.
    ``notifications``: the page may notify, and each notification it raises is recorded
    in ``window.__notified`` ({title, body})."""
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            context = browser.new_context(
                viewport={"width": 1400, "height": 1000},
                permissions=["notifications"] if notifications else [],
            )
            if notifications:
                context.add_init_script(RECORD_NOTIFICATIONS)
            page = context.new_page()
            yield page, open_notebook(page, base, app=app)
        finally:
            browser.close()


RECORD_NOTIFICATIONS = """
window.__notified = [];
if (window.Notification) {
  const Shown = window.Notification;
  window.Notification = class extends Shown {
    constructor(title, options) {
      window.__notified.push({ title, body: (options || {}).body });
      super(title, options);
    }
  };
}
"""


def run_cell(cells, index: int, page) -> None:
    cells.nth(index).locator(".jp-InputPrompt").click()
    page.keyboard.press("Shift+Enter")
