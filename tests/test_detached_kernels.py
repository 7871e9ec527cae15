"""Detached jobs across real kernels: a new kernel of the same scope lists what a killed
one left, with its ids and names, receives only what was not received, holds the job
alone (another live kernel lists it read-only), and numbers its own jobs after them."""

from __future__ import annotations

import json

import pytest

from ipyjobs.backends.store import JobStore, is_alive
from tests.conftest import eventually
from tests.kernel import Kernel
from tests.test_detached import kill_stored_jobs

SETUP = "%config JobManager.store_dir = {store!r}\n%load_ext ipyjobs\nimport json, ipyjobs"
JOB = """
job = ipyjobs.start_job(
    "import os, time\\n"
    "for i in range(5): print(f'early {{i}}', flush=True)\\n"
    "while not os.path.exists({gate!r}): time.sleep(0.01)\\n"
    "for i in range(3): print(f'late {{i}}', flush=True)\\n"
    "'the result'",
    detach=True,
    name="train",
)
"""


def value(kernel: Kernel, expression: str):
    """What ``expression`` is in the kernel, through JSON."""
    reply = kernel.execute(f"print(json.dumps({expression}))")
    assert reply["content"]["status"] == "ok", reply["content"]
    kernel.drain(0.1)
    return json.loads(kernel.stream_text(reply["msg_id"]).strip().splitlines()[-1])


def run(kernel: Kernel, code: str) -> dict:
    reply = kernel.execute(code)
    assert reply["content"]["status"] == "ok", reply["content"]
    return reply


def kernel_with_the_job(kernel: Kernel, store_dir: str, gate: str) -> Kernel:
    """``kernel`` once it started the detached job and the job printed its early lines."""
    run(kernel, SETUP.format(store=store_dir))
    run(kernel, JOB.format(gate=gate))
    eventually(lambda: value(kernel, "job.child_jobs[0].records.tail").count("\n") == 5, 30)
    return kernel


@pytest.fixture
def kernels():
    started: list[Kernel] = []

    def make() -> Kernel:
        kernel = Kernel()
        started.append(kernel)
        return kernel

    yield make
    for kernel in started:
        try:
            kernel.shutdown()
        except Exception:
            kernel.client.stop_channels()
            kernel.manager.cleanup_resources()


def test_a_new_kernel_takes_up_a_detached_job_where_the_killed_one_left_it(kernels, tmp_path):
    store_dir, gate = str(tmp_path / "store"), str(tmp_path / "gate")
    try:
        first = kernel_with_the_job(kernels(), store_dir, gate)
        early = value(first, "[r.value for r in job.receive(raw=True)]")
        assert "".join(early) == "".join(f"early {i}\n" for i in range(5))
        ids = value(first, "[job.id, job.child_jobs[0].id]")
        first.kill()

        second = kernels()
        run(second, SETUP.format(store=store_dir))
        listed = value(second, "[(j.id, j.name, j.state.value) for j in ipyjobs.get_job()]")
        assert [tuple(row[:2]) for row in listed] == [(ids[0], "train")]
        assert listed[0][2] in ("Disconnected", "Running")
        eventually(lambda: value(second, "ipyjobs.get_job()[0].state.value") == "Running", 30)
        assert value(second, "ipyjobs.start_job(len, 'x').id") == ids[1] + 1  # ids go on

        third = kernels()  # a second live kernel of the same scope: read-only
        run(third, SETUP.format(store=store_dir))
        for verb in ("stop", "suspend"):
            refused = third.execute(f"%job_{verb} train")
            assert refused["content"]["status"] == "error"
            assert f"cannot {verb} train: another kernel" in refused["content"]["evalue"]
        assert value(third, "ipyjobs.get_job('train')[0].state.value") in (
            "Running",
            "Disconnected",
        )

        run(second, "%job_stop train")  # the holder may
        assert value(second, "ipyjobs.get_job('train')[0].state.value") == "Stopped"
    finally:
        kill_stored_jobs(store_dir)


def test_the_rest_is_received_once_in_order_with_the_result(kernels, tmp_path):
    store_dir, gate = str(tmp_path / "store"), str(tmp_path / "gate")
    try:
        first = kernel_with_the_job(kernels(), store_dir, gate)
        run(first, "job.receive()")
        first.shutdown()  # a clean exit this time: the job runs on

        second = kernels()
        run(second, SETUP.format(store=store_dir))
        open(gate, "w").close()
        run(second, "ipyjobs.wait_job('train', timeout=30)")
        texts = value(
            second,
            "[(r.stream.value, r.value if r.stream.value != 'output' else repr(r.value)) "
            "for r in ipyjobs.receive_job('train', raw=True)]",
        )
        stdout = "".join(text for stream, text in texts if stream == "stdout")
        assert stdout == "".join(f"late {i}\n" for i in range(3))  # not the early ones
        assert [text for stream, text in texts if stream == "output"] == ["'the result'"]
        assert value(second, "ipyjobs.get_job('train')[0].state.value") == "Completed"
        row = JobStore(store_dir).jobs()[0]
        assert row.state == "Completed" and not is_alive(row.pid, row.pid_start)
        run(second, "ipyjobs.remove_job('train')")
        assert JobStore(store_dir).jobs() == []
    finally:
        kill_stored_jobs(store_dir)


def test_a_restarted_kernel_lists_the_job_still_running(kernels, tmp_path):
    store_dir, gate = str(tmp_path / "store"), str(tmp_path / "gate")
    try:
        kernel = kernel_with_the_job(kernels(), store_dir, gate)
        ids = value(kernel, "[job.id, job.name]")
        old_pid = kernel.manager.provisioner.process.pid
        kernel.manager.restart_kernel(now=False)  # what the notebook's Restart does
        kernel.client.wait_for_ready(timeout=60)
        assert kernel.manager.provisioner.process.pid != old_pid
        run(kernel, SETUP.format(store=store_dir))
        listed = value(kernel, "[[j.id, j.name, j.state.value] for j in ipyjobs.get_job()]")
        assert listed == [[*ids, "Running"]]
        open(gate, "w").close()
        run(kernel, "ipyjobs.wait_job('train', timeout=30)")
        assert value(kernel, "ipyjobs.get_job('train')[0].result()") == "the result"
    finally:
        kill_stored_jobs(store_dir)
