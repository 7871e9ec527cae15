"""A detached job's processes: a small supervisor, and the job's process it forks.

``start(folder)`` runs ``python -m ipyjobs.backends.detached_child FOLDER`` in a session of
its own, which forks once more and lets its first process exit, so the supervisor
belongs to no kernel: a kernel that exits, restarts or is killed takes neither it nor the
job with it. The supervisor reads the task the kernel left in ``FOLDER/task`` (the same
payload a process job's child gets), forks the job's process and waits for it.

The job's process runs ``process_child.main`` with a connection that appends what it
sends to the spool (``FOLDER/records``) instead of a pipe; a cooperative stop arrives as
the file ``FOLDER/stop``. The supervisor first spools ``("process", pid, start)``, the job
process's pid and start time, and after the job's process ended, if that process wrote no
``("done", ...)`` (it was killed, crashed or exited), writes how it ended, as a process
job would report it, into the job's reserved end (``FOLDER/end``, see ``spool``), so a job
no kernel watched still ends Failed or Stopped, even on a full disk.

A spool that cannot be written (a full disk) ends the job: its process writes into its
end that it failed with that ``OSError`` "while writing its output", and exits; what it
wrote before stays in the spool, whole. The supervisor holds the spool and the end open
from the start, so one deleted under the job still says how the job ended.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from typing import Any

TASK, RECORDS, STOP, END = "task", "records", "stop", "end"
#: The exit status of a job's process that gave up because its spool cannot be written.
SPOOL_FAILED = 75


class SpoolConnection:
    """What ``process_child.main`` talks to in a detached job: sends go to the spool; a
    stop is the file ``stop`` appearing; nothing ends the way a closed pipe would."""

    def __init__(self, folder: str, writer: Any, end: int) -> None:
        self.stop_path = os.path.join(folder, STOP)
        self.writer = writer
        self.end = end
        self._stop_told = False

    def send(self, message: tuple[Any, ...]) -> None:
        try:
            self.writer.write(message)
        except OSError as error:
            self._give_up(error)

    def _give_up(self, error: OSError) -> None:
        """The spool cannot be written: the job ends Failed saying why, and its process
        exits at once (from whichever thread was sending)."""
        import cloudpickle

        from .spool import write_end

        reason = OSError(error.errno, f"{error.strerror} while writing its output")
        with contextlib.suppress(Exception):
            write_end(self.end, ("done", "Failed", cloudpickle.dumps(reason)))
        os._exit(SPOOL_FAILED)

    def poll(self, timeout: float) -> bool:
        time.sleep(timeout)
        return not self._stop_told and os.path.exists(self.stop_path)

    def recv(self) -> tuple[Any, ...]:
        self._stop_told = True
        return ("stop",)

    def close(self) -> None:
        self.writer.close()


def start(folder: str) -> None:
    """Start the supervisor of the job whose task is in ``folder``; returns once it runs
    on its own (its first process has exited, so it leaves no zombie here)."""
    log = os.open(os.path.join(folder, "supervisor.log"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "ipyjobs.backends.detached_child", folder],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,  # what Python itself says if the supervisor cannot start
            start_new_session=True,  # no signal to the kernel's group reaches it
            close_fds=True,
        )
        launcher.wait()
    finally:
        os.close(log)


def supervise(folder: str) -> int:
    """The supervisor: fork the job's process, wait for it, and record how it ended."""
    from .spool import SpoolReader, SpoolWriter, open_end, read_end, write_end
    from .store import process_start_time

    with open(os.path.join(folder, TASK), "rb") as task:
        payload = task.read()
    writer = SpoolWriter(os.path.join(folder, RECORDS))
    reader = SpoolReader(os.path.join(folder, RECORDS))
    reader.open()  # held from now on: a spool deleted under the job still says "done"
    end = open_end(os.path.join(folder, END))
    pid = os.fork()
    if pid == 0:  # the job's process
        code = 0
        try:
            from . import process_child

            process_child.main(SpoolConnection(folder, writer, end), payload)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    with contextlib.suppress(OSError):  # a full disk: the job's process says so itself
        writer.write(("process", pid, process_start_time(pid)))
    _get_ready_to_notify(folder)
    _, status = os.waitpid(pid, 0)
    messages = reader.read()
    ending: tuple[Any, ...] | None = next((m for m in messages if m[0] == "done"), None)
    ending = ending or read_end(end)
    if ending is None:
        import cloudpickle

        from .process import ChildProcessExited, exit_reason

        if os.path.exists(os.path.join(folder, STOP)):
            ending = ("done", "Stopped", None)
        else:
            reason = ChildProcessExited(
                f"the job's process {exit_reason(os.waitstatus_to_exitcode(status))}"
            )
            ending = ("done", "Failed", cloudpickle.dumps(reason))
        if not write_end(end, ending):  # a spool made before ends were reserved
            with contextlib.suppress(OSError):
                writer.write(ending)
    writer.close()
    reader.close()
    _notify(folder, ending, messages)
    return 0


def _get_ready_to_notify(folder: str) -> None:
    """Load Apprise (a third of a second) while the job runs, not after it ended."""
    from . import detached_notify

    plan = detached_notify.read_plan(folder)
    if plan is not None:
        import threading

        threading.Thread(target=detached_notify.load, args=(plan,), daemon=True).start()


def _notify(folder: str, ending: tuple[Any, ...], messages: list[tuple[Any, ...]]) -> None:
    """Tell the user the job ended, if its kernel asked (``detached_notify``)."""
    from . import detached_notify, renamed

    if detached_notify.read_plan(folder) is None:
        return
    reason = None
    with contextlib.suppress(Exception):  # a reason that no longer unpickles says nothing
        error = renamed.loads(ending[2]) if ending[2] is not None else None
        reason = None if error is None else f"{type(error).__name__}: {error}"
    detached_notify.notify_end(folder, ending[1], reason, detached_notify.output_of(messages))


def main(argv: list[str]) -> int:
    folder = argv[1]
    if os.fork() != 0:
        return 0  # the launcher: gone at once, so the supervisor has no waiting parent
    return supervise(folder)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
