"""Each job's output goes to its own records."""

from __future__ import annotations

import io
import os
import sys
import threading

import pytest

import ipyjobs
from ipyjobs import Stream
from ipyjobs.execution import capture
from tests.conftest import eventually


@pytest.fixture
def fake_stdout(manager):
    """Call it to make a known object the 'real' stdout under the router, restored after
    the test. Called in the test itself: pytest's own capture (without ``-s``) puts its
    stdout back between a fixture's setup and the test."""
    saved: list = []

    def install() -> io.StringIO:
        saved.append(sys.stdout)
        sys.stdout = io.StringIO()
        return sys.stdout

    try:
        yield install
    finally:
        manager.shutdown()
        if saved:
            sys.stdout = saved[0]


def test_fifty_concurrent_jobs_each_receive_exactly_their_lines(manager, fake_stdout):
    fake = fake_stdout()
    barrier = threading.Barrier(50, timeout=20)

    def talk(n):
        barrier.wait()  # all fifty print at the same time
        for i in range(2000):
            print(f"job {n} line {i}")

    jobs = [ipyjobs.start_job(talk, n) for n in range(50)]
    for _ in range(200):
        print("main thread line")  # while the jobs print
    assert len(ipyjobs.wait_job(*jobs, timeout=60)) == 50
    for n, job in enumerate(jobs):
        text = "".join(r.value for r in job.receive(raw=True) if r.stream is Stream.STDOUT)
        assert text == "".join(f"job {n} line {i}\n" for i in range(2000))
    real = fake.getvalue()
    assert real == "main thread line\n" * 200  # no job line leaked, no main line lost


def test_stderr_warnings_and_logging_are_captured(manager, fake_stdout):
    import logging
    import warnings

    fake_stdout()
    ipyjobs.start_job(len, "").wait(5)  # the router is in place from the first job on
    handler = logging.StreamHandler()  # made now, it writes to the routed sys.stderr
    logger = logging.getLogger("ipyjobs-test")
    logger.addHandler(handler)
    try:

        def noisy():
            sys.stderr.write("to stderr\n")
            warnings.warn("a job warning", RuntimeWarning, stacklevel=1)
            logger.warning("logged")

        job = ipyjobs.start_job(noisy)
        job.wait(10)
    finally:
        logger.removeHandler(handler)
    records = job.receive(raw=True)
    assert [r.stream for r in records] == [Stream.STDERR, Stream.WARNING, Stream.STDERR]
    assert records[2].value == "logged\n"


def test_router_is_installed_once_and_restored_cleanly(manager):
    before = (sys.stdout, sys.stderr)
    for _ in range(3):
        ipyjobs.start_job(print, "x").wait(5)
    assert capture.is_installed()
    assert sys.stdout.wrapped is before[0] and sys.stderr.wrapped is before[1]
    manager.shutdown()
    assert (sys.stdout, sys.stderr) == before


def test_router_is_put_back_when_something_swapped_stdout(manager):
    ipyjobs.start_job(print, "first").wait(5)
    swapped = io.StringIO()
    saved, sys.stdout = sys.stdout, swapped  # what pytest or a prompt does
    try:
        job = ipyjobs.start_job(print, "second")
        job.wait(5)
        assert swapped.getvalue() == ""
        assert [r.value for r in job.receive(raw=True)] == ["second\n"]
    finally:
        manager.shutdown()
        sys.stdout = saved


def test_router_passes_other_attributes_through(manager, fake_stdout):
    class KernelStream(io.StringIO):
        def set_parent(self, parent):
            self.parent = parent

    fake_stdout()  # put back afterwards
    kernel_stream = KernelStream()
    sys.stdout = kernel_stream
    ipyjobs.start_job(print, "x").wait(5)
    assert sys.stdout is not kernel_stream and sys.stdout.wrapped is kernel_stream
    sys.stdout.set_parent("cell 7")  # what ipykernel calls at each execute
    assert kernel_stream.parent == "cell 7"
    assert sys.stdout.closed is False and sys.stdout.readable()
    print("main")
    assert sys.stdout.getvalue() == "main\n"


def test_non_text_writes_are_refused_like_a_text_stream(manager):
    def bad():
        sys.stdout.write(b"bytes")

    job = ipyjobs.start_job(bad)
    job.wait(5)
    assert isinstance(job.reason, TypeError)


def test_threads_started_with_the_helper_inherit_capture(manager, fake_stdout):
    fake = fake_stdout()

    def parent_job():
        helper = ipyjobs.start_thread(print, "from helper")
        helper.join()
        plain = threading.Thread(target=print, args=("from plain thread",))
        plain.start()
        plain.join()

    job = ipyjobs.start_job(parent_job)
    job.wait(5)
    assert [r.value for r in job.receive(raw=True)] == ["from helper\n"]
    assert fake.getvalue() == "from plain thread\n"  # documented: not inherited


def test_fd_level_writes_are_not_captured_as_documented(manager, capfd):
    def low_level():
        print("python level")
        sys.stdout.flush()
        os.write(1, b"fd level\n")

    job = ipyjobs.start_job(low_level)
    job.wait(5)
    assert [r.value for r in job.receive(raw=True)] == ["python level\n"]
    assert "fd level" in capfd.readouterr().out


def test_a_jobs_write_returns_the_count_and_keeps_order_with_everything_else(manager):
    """print in a thread job runs in C (stdout_capture.StdoutCapture): its write still answers
    as a stream's does, and stdout, stderr, warnings and results stay in the order the
    job made them."""
    import warnings

    def mixed():
        counts = [sys.stdout.write("one"), sys.stdout.write(" é\ud800\n")]  # any str
        print("two", file=sys.stderr)
        print("three")
        warnings.warn("four", stacklevel=1)
        print("five", end="")
        ipyjobs.write_output(6)
        print("seven")
        return counts

    job = ipyjobs.start_job(mixed)
    job.wait(5)
    records = job.receive(raw=True)
    shown = [(r.stream, r.value if r.stream is not Stream.WARNING else "w") for r in records]
    assert shown == [
        (Stream.STDOUT, "one é\ud800\n"),
        (Stream.STDERR, "two\n"),
        (Stream.STDOUT, "three\n"),
        (Stream.WARNING, "w"),
        (Stream.STDOUT, "five"),
        (Stream.OUTPUT, 6),
        (Stream.STDOUT, "seven\n"),
        (Stream.OUTPUT, [3, 4]),
    ]


def test_text_printed_without_a_newline_shows_while_the_job_runs(manager):
    go = threading.Event()

    def partial_line():
        print("half a line", end="")
        assert go.wait(10)

    job = ipyjobs.start_job(partial_line)
    try:
        child = job.child_jobs[0]
        eventually(lambda: "half a line" in child.records.tail)  # the collector drains it
    finally:
        go.set()
    job.wait(5)
    assert [r.value for r in job.receive(raw=True)] == ["half a line"]


def test_what_a_jobs_thread_prints_after_the_job_ended_is_still_received(manager):
    ended, printed = threading.Event(), threading.Event()

    def leaves_a_thread():
        def later():
            assert ended.wait(10)
            print("after the end")
            printed.set()

        print("before")  # the thread then writes through the job's own write
        ipyjobs.start_thread(later)

    job = ipyjobs.start_job(leaves_a_thread)
    job.wait(5)
    assert [r.value for r in job.receive(raw=True)] == ["before\n"]
    ended.set()
    assert printed.wait(10)
    assert [r.value for r in job.receive(raw=True)] == ["after the end\n"]


def test_a_patched_stdout_write_sees_writes_outside_jobs_only(manager, fake_stdout):
    """IPython 9 tees each cell's output into its history by setting sys.stdout.write;
    the patch sees what the cell writes, not what jobs write, and setting back what was
    read takes it out."""
    fake = fake_stdout()
    capture.install()
    router = sys.stdout
    teed = []
    original = router.write

    def tee(text):
        teed.append(text)
        return original(text)

    router.write = tee
    try:
        job = ipyjobs.start_job(print, "in the job")
        print("in the cell")
        job.wait(5)
    finally:
        router.write = original
    print("after")
    assert teed == ["in the cell", "\n"]
    assert fake.getvalue() == "in the cell\nafter\n"
    assert [r.value for r in job.receive(raw=True)] == ["in the job\n"]


def test_a_jobs_stdout_wrapper_goes_quietly_when_collected(manager, monkeypatch):
    import gc

    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    job = ipyjobs.start_job(print, "printed")
    job.wait(5)
    assert [r.value for r in job.receive(raw=True)] == ["printed\n"]
    job.remove()
    del job
    gc.collect()  # the job's TextIOWrapper is finalized: it closes its chunk buffer
    assert [str(u.exc_value) for u in unraisable] == []
