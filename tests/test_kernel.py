"""ipyjobs in a real kernel: job output never lands in another cell."""

from __future__ import annotations

import pytest

from tests.kernel import Kernel

TICKER = """%%job -n ticker
import time
for i in range(15):
    print(f"tick {i}")
    time.sleep(0.2)
"""


@pytest.fixture
def kernel():
    kernel = Kernel()
    try:
        yield kernel
    finally:
        kernel.shutdown()


def test_job_output_stays_out_of_other_cells_and_is_received_in_order(kernel):
    assert kernel.execute("%load_ext ipyjobs")["content"]["status"] == "ok"
    a = kernel.execute(TICKER)
    assert a["content"]["status"] == "ok"
    (table,) = kernel.results(a["msg_id"])
    assert "ticker" in table["text/plain"] and "ThreadJob" in table["text/plain"]
    b = kernel.execute("import time\ntime.sleep(1)\nprint('B done')")
    c = kernel.execute("time.sleep(1)\nprint('C done')")
    d = kernel.execute("%job_receive --wait ticker")
    kernel.drain()
    assert kernel.stream_text(b["msg_id"]) == "B done\n"  # main-thread prints still land
    assert kernel.stream_text(c["msg_id"]) == "C done\n"
    ticks = [
        m for m in kernel.messages if m["msg_type"] == "stream" and "tick" in m["content"]["text"]
    ]
    assert {m["parent_header"]["msg_id"] for m in ticks} == {d["msg_id"]}
    assert kernel.stream_text(d["msg_id"]) == "".join(f"tick {i}\n" for i in range(15))
    assert kernel.stream_text().count("tick") == 15  # nowhere else, never twice


def test_a_receive_replays_stdout_and_stderr_in_the_order_they_were_written(kernel):
    """ipykernel buffers stdout and stderr apart: o1, e1, o2 once arrived as o1 o2, e1."""
    kernel.execute("%load_ext ipyjobs")
    kernel.execute(
        "import sys\n"
        "job = %job_start print('o1'); print('e1', file=sys.stderr); print('o2')\n"
        "job.wait(10)"
    )
    reply = kernel.execute("%job_receive job")
    streams = [
        (m["content"]["name"], m["content"]["text"])
        for m in kernel.messages
        if m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == reply["msg_id"]
    ]
    assert streams == [("stdout", "o1\n"), ("stderr", "e1\n"), ("stdout", "o2\n")]
