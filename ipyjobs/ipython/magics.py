"""The job magics: thin layers over the Python API. Every user mistake is one UsageError."""

from __future__ import annotations

import argparse
import functools
import getpass
import shlex
from collections.abc import Callable
from typing import Any

from IPython.core.error import StdinNotImplementedError, UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from .. import api
from ..model.errors import JobError
from ..model.formatting import JobList
from ..model.job import Job
from ..model.state import JobState


def _usage_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turn ipyjobs' typed errors (and a job's syntax error) into one-line UsageErrors."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except JobError as error:
            raise UsageError(str(error)) from None
        except SyntaxError as error:
            raise UsageError(
                f"the job's code does not compile: {error.msg} (line {error.lineno})"
            ) from None

    return wrapper


def _start_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for decorator in reversed(
        [
            argument("-n", "--name", help="The job's name (default Job<id>)."),
            argument("-b", "--backend", help="thread (default), process, engines or dask."),
            argument(
                "-e", "--engines", help="Engines of a remote job: all, any (least busy), 0,2."
            ),
            argument(
                "--workers", help="Dask workers of a Dask job: any (default), all, or names a,b."
            ),
            argument("--cwd", help="Working directory of a process, engine or Dask job."),
            argument("--using", help="Names to copy into a process or engine job: a,b."),
            argument(
                "-d",
                "--detach",
                action="store_true",
                help="A process job that outlives the kernel, listed in the job store.",
            ),
            argument(
                "--each",
                metavar="NAME",
                help="Fan out: one child per item of the variable NAME; the code reads "
                "NAME as its item.",
            ),
            argument("--throttle", type=int, help="Children of a fan-out running at once."),
            argument(
                "--timeout",
                type=float,
                help="Seconds a job (each child of a fan-out) may run; then it is "
                "stopped and Failed.",
            ),
            argument(
                "--notify",
                nargs="?",
                const=True,
                action="append",
                metavar="URL",
                help="Notify when the job ends or waits for input: to URL (Apprise's "
                "syntax, such as ntfy://host/topic; repeat for more), or alone to "
                "c.JobManager.notify_urls.",
            ),
        ]
    ):
        func = decorator(func)
    return func


def peel_options(
    parser: argparse.ArgumentParser, line: str, last: tuple[str, ...] = ("-f", "--file-path")
) -> tuple[argparse.Namespace, str]:
    """Parse the options at the front of ``line``; the rest is returned verbatim. An
    option in ``last`` ends them (what follows a script is the script's arguments)."""
    rest = line.lstrip()
    words: list[str] = []
    while rest.startswith("-"):
        word, _, after = rest.partition(" ")
        if word == "--":
            rest = after.lstrip()
            break
        option = word.split("=", 1)[0]
        action = parser._option_string_actions.get(option)
        if action is None:
            raise UsageError(f"unknown option {option}")
        words.append(word)
        rest = after.lstrip()
        if action.nargs == "?":  # --notify [URL]: a URL, or nothing (then the code)
            value, _, after = rest.partition(" ")
            if "://" in value and "=" not in word:
                words.append(value)
                rest = after.lstrip()
        elif "=" not in word and action.nargs != 0:
            value, _, after = rest.partition(" ")
            if not value:
                raise UsageError(f"option {option} needs a value")
            words.append(value)
            rest = after.lstrip()
        if option in last:
            break
    options = parser.parse_args(words)
    return options, rest


def _notify_of(options: argparse.Namespace) -> Any:
    """``--notify`` given alone (True: notify_urls), with URLs, or both; None if not."""
    given = options.notify
    if not given:
        return None
    urls = [value for value in given if value is not True]
    if True in given:
        urls += list(api.get_manager().notify_urls) if urls else []
    return urls or True


@magics_class
class JobMagics(Magics):
    """``%job_start``, ``%%job``, ``%job_receive``, ``%job_input``, ``%job_wait``, ``%jobs``,
    ``%job_stop``, ``%job_remove``, ``%job_suspend`` and ``%job_resume``."""

    # -- starting ---------------------------------------------------------------------------
    @magic_arguments()
    @_start_options
    @argument("-f", "--file-path", help="A Python script to run as the job (then ARGS).")
    @argument("code", nargs="*", help="The code to run (kept exactly as typed).")
    @line_magic
    @_usage_errors
    def job_start(self, line: str) -> Job:
        """Start-Job: run the rest of the line as a background job; returns the Job.
        With ``-f SCRIPT``, the rest of the line is the script's arguments (Start-Job
        -FilePath): it runs as ``__main__``, in a process unless ``-b`` says otherwise."""
        options, code = peel_options(self.job_start.parser, line)
        if options.file_path is not None:
            return self._start_script(options, code)
        if not code.strip():
            raise UsageError("%job_start needs code to run, e.g. %job_start slow()")
        return self._start(code, options)

    def _start_script(self, options: argparse.Namespace, rest: str) -> Job:
        if options.each is not None or options.using or options.engines or options.workers:
            raise UsageError(
                "-f runs a script: it takes no --each, --using, --engines or --workers"
            )
        try:
            args = shlex.split(rest)
        except ValueError as error:
            raise UsageError(f"the script's arguments do not parse: {error}") from None
        return api.get_manager().start_job(
            file_path=options.file_path,
            args=args,
            name=options.name,
            backend=options.backend,
            cwd=options.cwd,
            detach=options.detach,
            timeout=options.timeout,
            notify=_notify_of(options),
        )

    @magic_arguments()
    @_start_options
    @cell_magic
    @_usage_errors
    def job(self, line: str, cell: str) -> Job:
        """Start-Job with the cell: the cell runs in the background, in the live user
        namespace (names it assigns exist once it has run); returns the Job."""
        options, extra = peel_options(self.job.parser, line)
        if getattr(options, "file_path", None) is not None:
            raise UsageError("%%job runs its cell; a script is %job_start -f SCRIPT")
        if extra.strip():
            raise UsageError(f"%%job takes only options on its line, not {extra.strip()!r}")
        if not cell.strip():
            raise UsageError("%%job needs code in the cell")
        # Its tracebacks name the cell as IPython does, counting the %%job line.
        count = getattr(self.shell, "execution_count", None)
        where = {"source_name": f"Cell In[{count}]", "first_line": 2} if count else {}
        return self._start(cell, options, **where)

    def _start(self, code: str, options: argparse.Namespace, **where: Any) -> Job:
        using = [n.strip() for n in options.using.split(",")] if options.using else None
        if options.each is not None:
            name = options.each
            namespace = self.shell.user_ns if self.shell is not None else {}
            if not name.isidentifier() or name not in namespace:
                raise UsageError(f"--each names a variable holding the items; no {name!r}")
            where.update(each=namespace[name], each_name=name)
        return api.get_manager().start_code(
            code,
            name=options.name,
            backend=options.backend,
            engines=options.engines,
            workers=options.workers,
            cwd=options.cwd,
            using=using,
            detach=options.detach,
            throttle=options.throttle,
            timeout=options.timeout,
            notify=_notify_of(options),
            **where,
        )

    # -- the rest ---------------------------------------------------------------------------
    @magic_arguments()
    @argument("-k", "--keep", action="store_true", help="Keep the records (Receive -Keep).")
    @argument("-w", "--wait", action="store_true", help="Stream until the jobs finish.")
    @argument("--auto-remove", action="store_true", help="Remove the jobs after (needs -w).")
    @argument("--no-recurse", action="store_true", help="The parent's own records only.")
    @argument("--location", help="Only the child jobs at this location.")
    @argument("refs", nargs="*", help="Ids, names (wildcards allowed) or Job variables.")
    @line_magic
    @_usage_errors
    def job_receive(self, line: str) -> Any:
        """Receive-Job: replay the jobs' output here and return their output values: the
        value itself if there is exactly one, a list if several, None if none. A Blocked
        job's prompt is then asked here, where the front end can ask (a terminal, a
        notebook that allows input), and the answer sent; with ``-w`` this goes on until
        the jobs finish."""
        args = parse_argstring(self.job_receive, line)
        refs = self._refs(args.refs)
        manager = api.get_manager()
        jobs = manager.get_job(*refs)
        values: list[Any] = []
        while True:
            shown = {job.id for job in jobs if job.has_more_data}
            values += manager.receive_job(
                *refs,
                keep=args.keep,
                wait=args.wait,
                auto_remove=args.auto_remove,
                no_recurse=args.no_recurse,
                location=args.location,
            )
            blocked = [job for job in jobs if job.state is JobState.BLOCKED]
            answered = [self._answer_here(job, job.id in shown) for job in blocked]
            if not args.wait or not blocked or not all(answered):
                break
        if not values:
            return None
        return values[0] if len(values) == 1 else values

    def _answer_here(self, job: Job, prompt_shown: bool) -> bool:
        """Ask a Blocked job's prompt here and send the answer; False where nothing can be
        asked (a notebook run without input, as nbval runs it), after saying how to
        answer. The prompt was just replayed if the job gave output, so it is not
        repeated; the answer, typed here, is not echoed into the job's output again."""
        prompt = job.prompt or ""
        ask = getpass.getpass if job.prompt_is_secret else input
        try:
            text = ask("" if prompt_shown else prompt)
        except (StdinNotImplementedError, EOFError, OSError):
            if prompt_shown:
                print()  # the replayed prompt ends the line
            print(f"{job.name} is Blocked: answer with %job_input {job.id} TEXT")
            return False
        try:
            job.send_input(text, echo=False)
        except JobError as error:  # stopped, or answered elsewhere, meanwhile
            print(f"{job.name}: the answer was not sent ({error})")
            return False
        return True

    @magic_arguments()
    @argument("ref", help="The Blocked job: an id, a name or a Job variable.")
    @argument("text", nargs="*", help="The answer: the rest of the line, exactly as typed.")
    @line_magic
    @_usage_errors
    def job_input(self, line: str) -> None:
        """Answer a Blocked job's ``input()`` (PowerShell's Receive-Job answers a prompt);
        the rest of the line after the job is the answer, as typed (it may be empty)."""
        word, _, text = line.lstrip().partition(" ")
        if not word:
            raise UsageError("%job_input needs a job and the answer, e.g. %job_input 3 Ann")
        refs = self._refs([word])
        if len(refs) != 1:
            raise UsageError(f"{word} holds {len(refs)} jobs; name the one to answer")
        api.send_input(refs[0], text)

    @magic_arguments()
    @argument("--any", action="store_true", help="Return when any one job finishes.")
    @argument("-t", "--timeout", type=float, help="Seconds to wait at most.")
    @argument("refs", nargs="*", help="Ids, names (wildcards allowed) or Job variables.")
    @line_magic
    @_usage_errors
    def job_wait(self, line: str) -> JobList:
        """Wait-Job: block until the jobs finish; returns those that did."""
        args = parse_argstring(self.job_wait, line)
        return JobList(api.wait_job(*self._refs(args.refs), any=args.any, timeout=args.timeout))

    @magic_arguments()
    @argument("-s", "--state", help="Only jobs in this state (Running, Failed, ...).")
    @argument("-n", "--name", help="Only jobs whose name matches (wildcards allowed).")
    @argument("--children", action="store_true", help="List child jobs too.")
    @argument("--newest", type=int, help="Only the N newest jobs.")
    @argument("-l", "--long", action="store_true", help="Add Elapsed, CPU and Memory columns.")
    @argument("refs", nargs="*", help="Ids, names (wildcards allowed) or Job variables.")
    @line_magic
    @_usage_errors
    def jobs(self, line: str) -> JobList:
        """Get-Job: the jobs, as a table."""
        args = parse_argstring(self.jobs, line)
        refs = self._refs(args.refs)
        query = functools.partial(
            api.get_job,
            name=args.name,
            state=args.state,
            include_children=args.children,
            newest=args.newest,
        )
        # A live table follows the filter; with refs, it follows the jobs they named.
        return JobList(query(*refs), query=None if refs else query, long=args.long)

    @magic_arguments()
    @argument("refs", nargs="*", help="Ids, names (wildcards allowed) or Job variables.")
    @line_magic
    @_usage_errors
    def job_stop(self, line: str) -> JobList:
        """Stop-Job: stop the jobs; returns them."""
        args = parse_argstring(self.job_stop, line)
        return JobList(api.stop_job(*self._refs(args.refs)))

    @magic_arguments()
    @argument("-f", "--force", action="store_true", help="Stop running jobs first.")
    @argument("-s", "--state", help="Remove the jobs in this state.")
    @argument("--all", action="store_true", help="Remove every job.")
    @argument("refs", nargs="*", help="Ids, names (wildcards allowed) or Job variables.")
    @line_magic
    @_usage_errors
    def job_remove(self, line: str) -> None:
        """Remove-Job: forget the jobs and free their output."""
        args = parse_argstring(self.job_remove, line)
        refs = self._refs(args.refs)
        if args.all:
            if refs or args.state:
                raise UsageError("--all takes no refs and no --state")
            refs = api.get_job()
            if not refs:
                return
        api.remove_job(*refs, force=args.force, state=args.state)

    @magic_arguments()
    @argument("refs", nargs="*", help="Ids, names (wildcards allowed) or Job variables.")
    @line_magic
    @_usage_errors
    def job_suspend(self, line: str) -> JobList:
        """Suspend-Job (process jobs)."""
        return JobList(api.suspend_job(*self._refs(parse_argstring(self.job_suspend, line).refs)))

    @magic_arguments()
    @argument("refs", nargs="*", help="Ids, names (wildcards allowed) or Job variables.")
    @line_magic
    @_usage_errors
    def job_resume(self, line: str) -> JobList:
        """Resume-Job."""
        return JobList(api.resume_job(*self._refs(parse_argstring(self.job_resume, line).refs)))

    def _refs(self, words: list[str]) -> list[Any]:
        """Ids, names, patterns, and names of user variables holding a Job or Jobs."""
        refs: list[Any] = []
        namespace = self.shell.user_ns if self.shell is not None else {}
        for word in words:
            value = namespace.get(word) if word.isidentifier() else None
            if isinstance(value, Job):
                refs.append(value)
            elif (
                isinstance(value, list | tuple) and value and all(isinstance(v, Job) for v in value)
            ):
                refs.extend(value)
            else:
                refs.append(int(word) if word.isdigit() else word)
        return refs
