"""Interactive jobs in a real kernel (DESIGN §9): a job's ``input()`` never reaches the
stdin channel of whichever cell runs, and the widget answers it."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import eventually
from tests.kernel import Kernel, click, panels
from tests.test_widgets import wait_for_html


@pytest.fixture
def kernel():
    kernel = Kernel()
    kernel.execute("%load_ext ipyjobs\nimport ipyjobs, builtins, time")
    try:
        yield kernel
    finally:
        kernel.shutdown()


def value(kernel: Kernel, expression: str):
    reply = kernel.execute(f"print(__import__('json').dumps({expression}))")
    assert reply["content"]["status"] == "ok", reply["content"]
    return json.loads(kernel.stream_text(reply["msg_id"]))


def no_input_request(kernel: Kernel) -> bool:
    return not kernel.client.stdin_channel.msg_ready()


def test_a_jobs_input_during_a_cell_blocks_the_job_not_the_cell(kernel):
    reply = kernel.execute(
        "job = ipyjobs.start_job(lambda: input('name? '))\n"
        "ipyjobs.wait_job(job, timeout=20)\n"
        "print(job.state, repr(job.prompt))"
    )
    assert kernel.stream_text(reply["msg_id"]) == "Blocked 'name? '\n"
    assert no_input_request(kernel)
    kernel.execute("%job_input job Ann")
    assert value(kernel, "job.result(10)") == "Ann"
    assert no_input_request(kernel)


def test_a_jobs_input_between_cells_blocks_the_job(kernel, tmp_path):
    """Between executes ipykernel puts back the input it saved: that one is routed too."""
    marker = tmp_path / "blocked"
    kernel.execute(
        "kernel = get_ipython().kernel\n"
        "def later():\n"
        "    while builtins.input is kernel.raw_input:  # until this cell has ended\n"
        "        time.sleep(0.01)\n"
        "    return input('later? ')\n"
        "job = ipyjobs.start_job(later)\n"
        "job.add_state_callback(\n"
        f"    lambda j, old, new: new == 'Blocked' and open({str(marker)!r}, 'w')\n"
        ")"
    )
    eventually(lambda: os.path.exists(marker), 20)
    assert no_input_request(kernel)
    assert value(kernel, "[job.state, job.prompt]") == ["Blocked", "later? "]
    kernel.execute("%job_input job Bob")
    assert value(kernel, "job.result(10)") == "Bob"


def test_input_in_a_cell_still_asks_the_frontend(kernel):
    msg_id = kernel.client.execute("answer = input('main? ')", allow_stdin=True)
    request = kernel.client.get_stdin_msg(timeout=20)
    assert request["content"]["prompt"] == "main? "
    kernel.client.input("typed")
    while True:
        reply = kernel.client.get_shell_msg(timeout=20)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    assert reply["content"]["status"] == "ok"
    assert value(kernel, "answer") == "typed"


def test_a_process_jobs_input_is_answered_with_the_magic(kernel):
    kernel.execute(
        "def greet():\n"
        "    return 'hi ' + input('who? ')\n"
        "job = ipyjobs.start_job(greet, backend='process')\n"
        "ipyjobs.wait_job(job, timeout=30)"
    )
    assert value(kernel, "[job.state, job.prompt]") == ["Blocked", "who? "]
    reply = kernel.execute("%job_input job  two words ")
    assert reply["content"]["status"] == "ok"
    # The rest of the line after one space, as typed (IPython trims the line's end).
    assert value(kernel, "job.result(10)") == "hi  two words"


def test_job_input_refuses_a_job_that_does_not_ask(kernel):
    kernel.execute("job = ipyjobs.start_job(int); job.wait(10)")
    reply = kernel.execute("%job_input job x")
    assert reply["content"]["status"] == "error"
    assert "not Blocked" in reply["content"]["evalue"]
    reply = kernel.execute("%job_input")
    assert reply["content"]["status"] == "error"


def test_the_widget_shows_the_prompt_and_send_answers_it(kernel):
    kernel.execute(
        "import getpass\n"
        "def ask():\n"
        "    name = input('name? ')\n"
        "    token = getpass.getpass('token? ')\n"
        "    return name + ':' + str(len(token))\n"
        "job = ipyjobs.start_job(ask)\n"
        "job"
    )
    wait_for_html(kernel, "Blocked")

    def asked(prompt: str) -> bool:
        kernel.drain()
        return any((p.get("jobs") or [{}])[0].get("prompt") == prompt for p in panels(kernel))

    eventually(lambda: asked("name? "), 20)
    click(kernel, "send", answer="Ann")
    eventually(lambda: asked("token? "), 20)
    assert panels(kernel)[-1]["jobs"][0]["secret"]  # the front end shows a password field
    click(kernel, "send", answer="s3cr3t-token")
    assert value(kernel, "job.result(10)") == "Ann:12"
    wait_for_html(kernel, "Completed")
    assert "s3cr3t" not in str(kernel.messages)  # the secret was shown nowhere


def test_job_receive_asks_a_blocked_jobs_prompt_with_the_cells_input_box(kernel):
    """Where the front end allows input (JupyterLab), %job_receive asks the prompt there."""
    kernel.execute(
        "job = ipyjobs.start_job(lambda: 'hi ' + input('who? '))\nipyjobs.wait_job(job, timeout=20)"
    )
    msg_id = kernel.client.execute("%job_receive job", allow_stdin=True)
    request = kernel.client.get_stdin_msg(timeout=20)
    assert request["content"]["prompt"] == ""  # "who? " was just replayed above it
    kernel.client.input("Ann")
    while True:
        reply = kernel.client.get_shell_msg(timeout=20)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    assert reply["content"]["status"] == "ok"
    assert value(kernel, "job.result(10)") == "hi Ann"
    assert value(kernel, "job.receive()") == ["hi Ann"]  # typed there: not echoed again
