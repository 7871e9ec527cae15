"""What a job costs: ``cpu_time`` and ``peak_memory`` (DESIGN §10), sampled while it runs.

One sampler thread per manager, alive only while some running job is watched, asks each
watched job's backend for a sample about once a second; the backend gives the final
figures itself when the job ends (a thread job from ``time.thread_time()`` in its own
thread, a process job from ``getrusage`` in its child). A thread's CPU time is read from
another thread through its CPU clock (``time.pthread_getcpuclockid``); a process's from
``/proc`` (psutil where there is no ``/proc``, when it is installed).
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from .daemons import forget_thread, guarded

if TYPE_CHECKING:
    from ..model.job import Job

#: A sample: CPU seconds and peak bytes so far (either None when unknown), or None when
#: the job is not running any more where it was sampled.
Sample = tuple[float | None, int | None] | None

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_usage(pid: int) -> Sample:
    """CPU seconds (user + system) and peak resident bytes of process ``pid``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
        cpu = (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
        peak = None
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    peak = int(line.split()[1]) * 1024
                    break
        return cpu, peak
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            return None  # gone
    except (OSError, IndexError, ValueError):
        return None
    try:
        import psutil
    except ImportError:
        return None
    try:
        process = psutil.Process(pid)
        times = process.cpu_times()
        return times.user + times.system, process.memory_info().rss
    except psutil.Error:
        return None


def process_cpu() -> float:
    """This process's CPU seconds so far (user and system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def usage_since(cpu_before: float) -> tuple[float, int]:
    """The CPU seconds since ``cpu_before``, and this process's peak resident bytes
    (ru_maxrss is in KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return process_cpu() - cpu_before, peak if sys.platform == "darwin" else peak * 1024


def thread_cpu_clock(ident: int) -> Callable[[], float] | None:
    """A function reading thread ``ident``'s CPU seconds from any thread, where the
    platform has thread CPU clocks."""
    import time

    try:
        clock = time.pthread_getcpuclockid(ident)
    except (AttributeError, OSError):
        return None
    return lambda: time.clock_gettime(clock)


class ResourceSampler:
    """Samples each watched job about every ``interval`` seconds until it finishes, and
    asks each source (a thread pool, which samples its busy workers' jobs itself) to do
    the same. The thread runs while something is watched or a source says it is busy."""

    interval = 1.0

    def __init__(self) -> None:
        self._watched: dict[Job, Callable[[], Sample]] = {}
        self._sources: list[Callable[[], bool]] = []
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def watch(self, job: Job, sample: Callable[[], Sample]) -> None:
        with self._lock:
            if self._closed:
                return
            self._watched[job] = sample
            self._start()

    def add_source(self, source: Callable[[], bool]) -> None:
        """``source()`` is called at each tick; it returns True while it has jobs running."""
        with self._lock:
            self._sources.append(source)

    def wake(self) -> None:
        """A source has a job running: make sure the thread runs (cheap when it does)."""
        if self._thread is None:
            with self._lock:
                if not self._closed:
                    self._start()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._main, name="ipyjobs-resources", daemon=True
            )
            self._thread.start()

    @guarded("the resource sampler", then=forget_thread())
    def _main(self) -> None:
        while True:
            with self._lock:
                self._lock.wait(self.interval)
                for job in [job for job in self._watched if job.finished]:
                    del self._watched[job]
                if self._closed:
                    self._thread = None
                    return
                watched = list(self._watched.items())
                sources = list(self._sources)
            busy = False
            for source in sources:
                with contextlib.suppress(Exception):  # a hint: it never ends the sampler
                    busy = bool(source()) or busy
            for job, sample in watched:
                try:
                    figures = sample()
                except Exception:
                    figures = None
                if figures is not None and not job.finished:
                    job.note_usage(*figures)
            with self._lock:
                if not busy and not self._watched:
                    self._thread = None
                    return

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._watched.clear()
            self._sources.clear()
            thread = self._thread
            self._lock.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)


def process_stopped(pid: int) -> bool | None:
    """True if the process is stopped by a signal (``/proc`` state T, or psutil's), False
    if it is not, None if it cannot be told (gone, or no way to look)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rpartition(b")")[2].split()[0]  # after "pid (comm)"
        return state in (b"T", b"t")
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            return None  # a Linux without that pid: it is gone
    except (OSError, IndexError):
        return None
    try:
        import psutil
    except ImportError:
        return None
    try:
        return psutil.Process(pid).status() == psutil.STATUS_STOPPED
    except psutil.Error:
        return None
