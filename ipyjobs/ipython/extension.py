"""The one place that touches the IPython shell: its host for the manager, and
``%load_ext ipyjobs``."""

from __future__ import annotations

import builtins
import getpass
import subprocess
import sys
import warnings
from typing import Any

from ..execution.host import Host
from ..model.formatting import JobList
from ..model.job import Job

CALL = "__ipyjobs_background__"


def current_shell() -> Any | None:
    """The running InteractiveShell (terminal or kernel), or None in plain Python."""
    if "IPython" not in sys.modules:
        return None  # nobody started a shell without importing IPython
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.instance() if InteractiveShell.initialized() else None


class ShellHost(Host):
    """The host of whichever IPython shell runs (plain Python while none does): code
    strings run in its user namespace, after its transforms, and its cells keep their
    names in tracebacks. It looks the shell up at each use, so a manager made before the
    shell, or without ``%load_ext``, follows it."""

    @property
    def config_parent(self) -> Any:
        return current_shell()

    def user_namespace(self) -> dict[str, Any]:
        shell = current_shell()
        return shell.user_ns if shell is not None else super().user_namespace()

    def transform(self, source: str) -> str:
        shell = current_shell()
        return shell.transform_cell(source) if shell is not None else source

    def display_publisher(self) -> Any:
        shell = current_shell()
        return shell.display_pub if shell is not None else None

    def cell_name(self, filename: str) -> str | None:
        """ "Cell In[5]" for the file the shell compiled a cell into, else None."""
        shell = current_shell()
        format_code_name = getattr(getattr(shell, "compile", None), "format_code_name", None)
        named = format_code_name(filename) if format_code_name is not None else None
        return " ".join(named) if named else None

    def profile_dir(self) -> str:
        shell = current_shell()
        location = getattr(getattr(shell, "profile_dir", None), "location", None)
        return location or super().profile_dir()

    def show_display(self, bundle: dict[str, Any]) -> None:
        if current_shell() is None:
            return super().show_display(bundle)
        from IPython.display import publish_display_data

        publish_display_data(bundle["data"], bundle.get("metadata") or {})

    def show_value(self, value: Any) -> None:
        if current_shell() is None:
            return super().show_value(value)
        from IPython.display import display

        display(value)


SHELL_HOST = ShellHost()


class _Loaded:
    """What ``load`` put into one shell, so that ``unload`` takes exactly that out."""

    def __init__(self, shell: Any) -> None:
        from .. import api
        from ..execution import capture
        from ..manager.manager import JobManager
        from . import notices
        from .magics import JobMagics
        from .transformer import transform_ampersand

        self.shell = shell
        self.manager = JobManager(parent=shell, host=SHELL_HOST)
        self.previous_manager = api.set_manager(self.manager)
        self.magics = JobMagics(shell)
        shell.register_magics(self.magics)
        self.transformer = transform_ampersand
        shell.input_transformers_cleanup.append(self.transformer)
        shell.user_ns[CALL] = background
        shell.user_ns_hidden[CALL] = background
        shell.configurables.append(self.manager)
        self.kernel_input = _KernelInput(getattr(shell, "kernel", None))
        capture.acquire(shell.display_pub)
        self.original_system = shell.system
        shell.system = _job_aware_system(shell, self.original_system)
        self.notices = notices.attach(shell, self.manager)
        self.formatter = None
        if type(shell).__name__ == "ZMQInteractiveShell":  # a kernel: show live widgets
            self.formatter = shell.display_formatter.mimebundle_formatter
            self.formatter.for_type(Job, self._job_bundle)
            self.formatter.for_type(JobList, self._table_bundle)
            from . import control_channel

            control_channel.open_target()  # before any widget: a reloaded page's clicks
        _attach(self.manager)

    def _job_bundle(self, job: Any, include: Any = None, exclude: Any = None) -> Any:
        from .widgets import JobWidget

        return JobWidget(job, self.manager)._repr_mimebundle_(include=include, exclude=exclude)

    def _table_bundle(self, jobs: Any, include: Any = None, exclude: Any = None) -> Any:
        from .widgets import JobTableWidget

        fixed = list(jobs)
        widget = JobTableWidget(jobs.query or (lambda: fixed), self.manager, long=jobs.long)
        return widget._repr_mimebundle_(include=include, exclude=exclude)

    def unload(self) -> None:
        from .. import api
        from ..execution import capture

        shell = self.shell
        self.notices.detach()
        if self.formatter is not None:
            from .widget_hub import hub

            self.formatter.pop(Job, None)
            self.formatter.pop(JobList, None)
            hub(self.manager).stop()
            from . import control_channel

            control_channel.close_target()
        self.manager.shutdown()
        api.set_manager(self.previous_manager)
        manager = shell.magics_manager
        for kind, names in self.magics.magics.items():
            for name in names:
                manager.magics[kind].pop(name, None)
        manager.registry.pop(type(self.magics).__name__, None)
        if self.transformer in shell.input_transformers_cleanup:
            shell.input_transformers_cleanup.remove(self.transformer)
        shell.user_ns.pop(CALL, None)
        shell.user_ns_hidden.pop(CALL, None)
        if self.manager in shell.configurables:
            shell.configurables.remove(self.manager)
        if "system" in vars(shell):
            del shell.system
        capture.release()
        self.kernel_input.unload()


class _KernelInput:
    """Keep a job's ``input()`` from ever reaching the kernel's stdin channel.

    ipykernel puts its own ``raw_input`` and ``getpass`` in place for each execute, so
    that ``input()`` in a cell asks the front end; from a job's thread that would ask in
    whichever cell runs. Those two are routed here, on the kernel object, so each execute
    puts the routed versions in place; and the values the kernel restores after this
    execute (``_sys_raw_input``, ``_save_getpass``) are routed too, for jobs that ask
    between executes. Outside a job everything behaves as before."""

    _PAIRS = (("raw_input", "_sys_raw_input", False), ("getpass", "_save_getpass", True))

    def __init__(self, kernel: Any) -> None:
        from ..execution.capture import is_routed, route_input

        self.kernel = kernel if callable(getattr(kernel, "raw_input", None)) else None
        if self.kernel is None:
            return
        for method, saved, secret in self._PAIRS:
            original = getattr(kernel, method)
            routed = route_input(original, secret=secret)
            setattr(kernel, method, routed)
            if builtins.input == original:  # this execute's (the method is rebound)
                builtins.input = routed
            if getpass.getpass == original:
                getpass.getpass = routed
            restored = getattr(kernel, saved, None)
            if callable(restored) and not is_routed(restored):
                setattr(kernel, saved, route_input(restored, secret=secret))

    def unload(self) -> None:
        from ..execution.capture import is_routed

        kernel = self.kernel
        if kernel is None:
            return
        for method, saved, _ in self._PAIRS:
            routed = vars(kernel).pop(method, None)
            original = getattr(routed, "ipyjobs_original", None)
            if original is not None and builtins.input is routed:
                builtins.input = original
            if original is not None and getpass.getpass is routed:
                getpass.getpass = original
            restored = getattr(kernel, saved, None)
            if is_routed(restored):
                setattr(kernel, saved, restored.ipyjobs_original)


def _attach(manager: Any) -> None:
    """List the detached jobs earlier kernels left; a store that cannot be used says so
    once, and the extension loads all the same."""
    from ..model.errors import JobError

    try:
        manager.attach_detached()
    except JobError as error:
        warnings.warn(f"ipyjobs: detached jobs are not listed: {error}", stacklevel=3)


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext ipyjobs``: magics, the ``&`` transformer, output routing, notices.
    Loading again changes nothing."""
    if getattr(shell, "_ipyjobs", None) is None:
        shell._ipyjobs = _Loaded(shell)


def unload_ipython_extension(shell: Any) -> None:
    """``%unload_ext ipyjobs``: take every one of those out again."""
    loaded = getattr(shell, "_ipyjobs", None)
    if loaded is not None:
        loaded.unload()
        shell._ipyjobs = None


def background(
    source: str, local_ns: dict[str, Any], statement: bool = False, bound: bool = False
) -> Any:
    """What ``stmt &`` calls: start ``source`` as a job on a snapshot of the names it reads
    (PowerShell's ``$using:``). Returns the Job, or None for a statement. A job bound to a
    name (``x = f() &``) is shown all the same, as its value would not be: its widget in
    a notebook, ``[1] Job1`` in a terminal, as bash prints ``[1] 12345``
    (docs/decisions.md)."""
    from IPython.core.error import UsageError

    from .. import api
    from ..model.errors import JobError

    if not source.strip():
        raise UsageError("a trailing & needs a one-line statement before it, e.g. slow() &")
    try:
        job = api.get_manager().start_code(source, snapshot_of=local_ns)
    except SyntaxError as error:
        raise UsageError(f"cannot run in the background: {error.msg}") from None
    except JobError as error:
        raise UsageError(str(error)) from None
    if bound:
        shell = current_shell()
        if type(shell).__name__ == "ZMQInteractiveShell":
            from IPython.display import display

            display(job)
        else:
            print(f"[{job.id}] {job.name}")
    return None if statement else job


def _job_aware_system(shell: Any, original: Any) -> Any:
    """``!cmd`` inside a job: pipe the command's output into the job's records (the
    terminal's ``os.system`` would write to the file descriptor, past any capture)."""
    from ..execution.capture import start_thread
    from ..execution.current import current_job

    def system(cmd: str) -> Any:
        if current_job() is None:
            return original(cmd)
        command = shell.var_expand(cmd, depth=1)
        process = subprocess.Popen(
            command,
            shell=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        try:
            errors = start_thread(_copy_lines, process.stderr, sys.stderr)
            _copy_lines(process.stdout, sys.stdout)
            errors.join()
            code = process.wait()
        finally:
            if process.poll() is None:  # the job was stopped: leave no process behind
                process.kill()
                process.wait()
        if code != 0:
            raise subprocess.CalledProcessError(code, command)
        return None

    return system


def _copy_lines(source: Any, target: Any) -> None:
    for line in source:
        target.write(line)
