"""Job bodies for process-job tests (importable, so the forkserver's children find them)."""

from __future__ import annotations

import os
import signal
import threading
import time


def stamp_then_wait(gate: str) -> None:
    print(f"stamp {time.time()!r}", flush=True)
    while not os.path.exists(gate):
        time.sleep(0.01)


def pid() -> int:
    return os.getpid()


def cwd() -> str:
    return os.getcwd()


def sleep_long() -> None:
    time.sleep(3600)


def ignore_sigint_forever() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        time.sleep(0.05)


def kill_self(signum: int) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(10)


def unpicklable_output() -> threading.Lock:
    return threading.Lock()


def count_forever(path: str) -> None:
    """Count in the file at ``path``, replaced whole each time: a reader never sees it
    half written (read it with ``read_count``)."""
    n = 0
    while True:
        n += 1
        with open(path + ".new", "w") as f:
            f.write(str(n))
        os.replace(path + ".new", path)
        time.sleep(0.02)


def read_count(path: object) -> int:
    """What ``count_forever`` counted so far (0 before its first count)."""
    try:
        with open(str(path)) as f:
            return int(f.read())
    except FileNotFoundError:
        return 0


def exhaust_memory() -> None:
    import resource

    limit = 512 * 1024 * 1024  # this process only: 512 MB of address space
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    hoard = []
    while True:
        hoard.append(bytearray(64 * 1024 * 1024))


def ends_while_a_flush_is_under_way(lines: int) -> None:
    """Write ``lines`` lines, then end while the flusher thread holds them between taking
    them from the inbox and sending them (it is made to pause there)."""
    from ipyjobs.backends import process_child

    take = process_child.drain
    taken = threading.Event()

    def slow_drain(job: object) -> list[object]:
        items = take(job)
        if items and threading.current_thread() is not threading.main_thread():
            taken.set()
            time.sleep(0.3)  # holding them: the job ends meanwhile
        return items

    process_child.drain = slow_drain
    for i in range(lines):
        print(i)
    taken.wait(10)


def fails_in_module() -> None:
    raise RuntimeError("from a module file")


FAILING_LINE = fails_in_module.__code__.co_firstlineno + 1


def write_then_hold_the_gil() -> None:
    """Write an output, then enter a C loop that never releases the GIL (for hours)."""
    import ipyjobs

    ipyjobs.write_output(os.getpid())
    sum(range(10**13))


def parent_pid() -> int:
    return os.getppid()


def loaded_modules() -> list[str]:
    import sys

    return sorted(sys.modules)


def print_then_wait(lines: int, gate: str) -> str:
    for i in range(lines):
        print(f"line {i}", flush=True)
    while not os.path.exists(gate):
        time.sleep(0.01)
    return "finished"


def stop_when_asked() -> None:
    import ipyjobs

    while True:
        ipyjobs.check_stop()
        time.sleep(0.01)


def greet() -> str:
    """Asks twice, once for a secret (interactive jobs)."""
    import getpass

    name = input("name? ")
    secret = getpass.getpass("token? ")
    print(f"hello {name} ({len(secret)})")
    return name


def ask_forever() -> None:
    while True:
        input("more? ")


def ask_then_wait(gate: str) -> str:
    answer = input("once? ")
    while not os.path.exists(gate):
        time.sleep(0.01)
    return answer


def square_slowly(n: int) -> int:
    time.sleep(0.05 * (3 - n % 3))  # later items finish first, some of them
    if n == 7:
        raise ValueError("bad data in row 7")
    return n * n


def spin_forever() -> None:
    while True:
        pass


def burn(seconds: float, megabytes: int = 0) -> int:
    """Use the CPU for ``seconds`` (and hold ``megabytes`` meanwhile)."""
    held = bytearray(megabytes << 20)
    for i in range(0, len(held), 4096):
        held[i] = 1  # touched: resident
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:
        n += 1
    return len(held)


def pid_of_item(item: int) -> tuple[int, int]:
    return item, os.getpid()


def loop_on(item: int, bad: int) -> int:
    """Item ``bad`` loops until stopped (a SIGINT interrupts it); the others return."""
    while item == bad:
        time.sleep(0.01)
    return os.getpid()


def stubborn_on(item: int, bad: int) -> int:
    """Item ``bad`` ignores SIGINT and loops for ever: only its process's end stops it."""
    if item == bad:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        while True:
            time.sleep(0.01)
    return os.getpid()


def hoard_on(item: int, hoarder: int) -> int:
    """Item ``hoarder`` touches 150 MB and spends CPU for 0.3 s; the others do nothing."""
    if item == hoarder:
        hoard = b"\x01" * (150 << 20)
        until = time.thread_time() + 0.3
        while time.thread_time() < until:
            pass
        del hoard
    return os.getpid()


def print_then_flood(lines: int, gate: str) -> None:
    """``lines`` lines, then, once ``gate`` exists, 40 MB more than a small disk holds."""
    for i in range(lines):
        print(f"line {i}", flush=True)
    while not os.path.exists(gate):
        time.sleep(0.01)
    for i in range(400_000):
        print(f"flood {i:08d} " + "x" * 90)


def steps(count: int) -> str:
    for i in range(count):
        print(f"step {i}")
    return "done"


def ghost_value() -> object:
    """A value of a class whose module exists only in the job's process: the kernel
    cannot unpickle it."""
    import sys
    import types

    module = types.ModuleType("ipyjobs_ghost")
    exec("class Ghost:\n    pass", module.__dict__)
    sys.modules["ipyjobs_ghost"] = module
    return module.Ghost()
