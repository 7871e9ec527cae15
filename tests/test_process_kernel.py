"""Process jobs in a real kernel: none survive the kernel's shutdown, or its SIGKILL."""

from __future__ import annotations

import psutil

from tests.conftest import eventually
from tests.kernel import Kernel


def job_pids(kernel_pid: int) -> set[int]:
    """The kernel's grandchildren: its process jobs (children of the forkserver)."""
    kernel = psutil.Process(kernel_pid)
    return {p.pid for p in kernel.children(recursive=True) if p.ppid() != kernel_pid}


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                living.add(pid)
        except psutil.NoSuchProcess:
            pass
    return living


def start_jobs(kernel: Kernel) -> set[int]:
    kernel.execute("%load_ext ipyjobs\nimport time")
    for _ in range(2):
        kernel.execute("%job_start -b process time.sleep(3600)")
    kernel_pid = kernel.manager.provisioner.process.pid
    eventually(lambda: len(job_pids(kernel_pid)) == 2, 30)
    return job_pids(kernel_pid)


def test_kernel_shutdown_leaves_no_job_process():
    kernel = Kernel()
    try:
        pids = start_jobs(kernel)
    finally:
        kernel.shutdown()
    eventually(lambda: not alive(pids), 15)


def test_a_killed_kernel_leaves_no_job_process_for_long():
    kernel = Kernel()
    try:
        pids = start_jobs(kernel)
        kernel.kill()
        eventually(lambda: not alive(pids), 5)  # each child sees its pipe close
    finally:
        kernel.client.stop_channels()
        kernel.manager.cleanup_resources()
