"""What runs inside a job: a call or a code string, and how its outcome is recorded.

Code strings are compiled when the job is started, so a syntax error is raised to the
caller at once and no job is created. The value of a final expression, a function's
return value and each item a generator yields become output records.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import linecache
import os
import reprlib
import runpy
import shlex
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import CodeType, CoroutineType, GeneratorType
from typing import TYPE_CHECKING, Any

from ..model.errors import JobArgumentError, JobStopped
from ..model.records import Stream
from ..model.state import COMPLETED, FAILED, RUNNING, STOPPED
from .capture import job_argv
from .host import PLAIN, Host

if TYPE_CHECKING:
    from ..model.job import Job

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # ipyjobs/
_cell_numbers = itertools.count(1)
_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 40


class Work:
    """A unit of work a backend runs for one child job."""

    def run(self, job: Job) -> None:
        raise NotImplementedError

    def for_item(self, item: Any, name: str | None = None) -> Work:
        """The work of one child of a fan-out (``each=``): run for ``item``."""
        raise NotImplementedError(f"{type(self).__name__} cannot fan out")


@dataclass
class CallWork(Work):
    function: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def for_item(self, item: Any, name: str | None = None) -> CallWork:
        """The function is called with the item first: ``fn(item, *args, **kwargs)``."""
        return CallWork(self.function, (item, *self.args), self.kwargs)

    def run(self, job: Job) -> None:
        result = self.function(*self.args, **self.kwargs)
        if result is None:
            return
        if isinstance(result, CoroutineType):
            import asyncio  # only now: asyncio costs tens of ms to import

            result = asyncio.run(result)
        if isinstance(result, GeneratorType):
            for item in result:
                job.write_output(item)
        elif result is not None:
            job.write_output(result)


@dataclass
class CodeWork(Work):
    """IPython code, already transformed to Python and compiled."""

    body: CodeType
    last_expression: CodeType | None
    namespace: Callable[[], dict[str, Any]]
    python: str = ""  # the code after IPython's transforms (what other processes compile)
    names: frozenset[str] = frozenset()  # the names the code reads

    def for_item(self, item: Any, name: str | None = None) -> CodeWork:
        """The code runs with ``name`` bound to ``item`` in a namespace of its own (the
        user's ``name`` is untouched)."""
        if name is None:
            raise ValueError("a code job's fan-out needs the name its code reads")
        return CodeWork(
            self.body,
            self.last_expression,
            WithItem(self.namespace, name, item),
            self.python,
            self.names,
        )

    def run(self, job: Job) -> None:
        namespace = self.namespace()
        _evaluate(self.body, namespace)
        if self.last_expression is not None:
            value = _evaluate(self.last_expression, namespace)
            if value is not None:
                job.write_output(value)


@dataclass
class ScriptWork(Work):
    """A Python script run as ``__main__`` (Start-Job -FilePath), with ``sys.argv`` set
    for the job only: in its own process it is the process's; in a thread, ``sys.argv``
    shows it to the job's code alone (see ``capture.ScopedArgv``)."""

    path: str
    args: list[str] = field(default_factory=list)

    def run(self, job: Job) -> None:
        with job_argv([self.path, *self.args]):
            runpy.run_path(self.path, run_name="__main__")


def script_work(path: Any, args: Any = None) -> tuple[ScriptWork, str]:
    """The work and command of a script job; a ``JobArgumentError`` if there is no such
    file (no job is made)."""
    if not isinstance(path, str | os.PathLike):
        raise JobArgumentError(f"file_path is a path, not {type(path).__name__}")
    path = os.path.abspath(os.fspath(path))
    if not os.path.isfile(path):
        raise JobArgumentError(f"no script at {path}")
    if isinstance(args, str):
        raise JobArgumentError("args is a list of arguments, not one string")
    words = [str(a) for a in args] if args is not None else []
    return ScriptWork(path, words), shlex.join([os.path.basename(path), *words])


class Snapshot:
    """A namespace made of copied values (what ``stmt &`` and process jobs run in): each
    call gives a fresh dict, so a job cannot change the copy another job reads."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def __call__(self) -> dict[str, Any]:
        import builtins

        return {"__builtins__": builtins, "__name__": "__main__", **self.values}


class WithItem:
    """A namespace with one more name: a copy of ``base()`` where ``name`` is the item."""

    def __init__(self, base: Callable[[], dict[str, Any]], name: str, item: Any) -> None:
        self.base, self.name, self.item = base, name, item

    def __call__(self) -> dict[str, Any]:
        namespace = dict(self.base())
        namespace[self.name] = self.item
        return namespace


def _evaluate(code: CodeType, namespace: dict[str, Any]) -> Any:
    result = eval(code, namespace)
    if code.co_flags & inspect.CO_COROUTINE:  # the code used top-level await
        import asyncio

        result = asyncio.run(result)
    return result


#: The names frames of shipped code show here, as in the kernel that sent it (``Cell
#: In[5]``): filled by the process that runs another's work, from what came with it.
frame_names: dict[str, str] = {}


def compile_code(
    source: str,
    namespace: Callable[[], dict[str, Any]],
    transform: Callable[[str], str] | None = None,
    source_name: str | None = None,
    first_line: int = 1,
) -> CodeWork:
    """Compile a job's code (after IPython's transforms, when given); raises SyntaxError.
    ``source_name`` and ``first_line`` say where tracebacks place it: a ``%%job`` cell
    is ``Cell In[5]`` from line 2, below the magic's line, as IPython numbers cells."""
    python = transform(source) if transform is not None else source
    filename = f"<ipyjobs-input-{next(_cell_numbers)}>"
    tree = ast.parse(python, filename, "exec")
    ast.increment_lineno(tree, first_line - 1)
    last: ast.Expression | None = None
    if tree.body and isinstance(final := tree.body[-1], ast.Expr):
        tree.body.pop()
        last = ast.Expression(final.value)
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    body = compile(tree, filename, "exec", flags=flags, dont_inherit=True)
    expression = compile(last, filename, "eval", flags=flags, dont_inherit=True) if last else None
    # Tracebacks of the job then show the lines, as IPython does for cells.
    lines = ["\n"] * (first_line - 1) + python.splitlines(True)
    linecache.cache[filename] = (len(python), None, lines, filename)
    if source_name is not None:
        frame_names[filename] = source_name
    names = frozenset(n.id for n in ast.walk(ast.parse(python)) if isinstance(n, ast.Name))
    return CodeWork(body, expression, namespace, python, names)


def describe_call(function: Callable[..., Any], args: tuple, kwargs: Mapping[str, Any]) -> str:
    """A readable call for ``Job.command``: ``fit(1, 2, epochs=3)``."""
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    if name is None:
        name = _repr.repr(function)
    if not args and not kwargs:
        return f"{name}()"
    parts = [_repr.repr(a) for a in args] + [f"{k}={_repr.repr(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def frame_name(filename: str, host: Host = PLAIN) -> str | None:
    """The name a traceback shows for ``filename``: a code job's own, a shipped one's,
    or the shell's name for one of its cells; None to keep the file's."""
    return frame_names.get(filename) or host.cell_name(filename)


def format_failure(exc: BaseException, host: Host = PLAIN) -> str:
    """The traceback as the user should read it: without ipyjobs' own frames, and with
    notebook cells named as the host's shell names them (``Cell In[5]``, not a temporary
    file), or as the kernel that sent the code did."""
    summary = traceback.TracebackException.from_exception(exc)
    frames = [f for f in summary.stack if not f.filename.startswith(_PACKAGE_DIR)]
    for frame in frames:
        name = frame_name(frame.filename, host)
        if name is not None:
            _ = frame.line  # read the source line while the real file name still finds it
            frame.filename = name
    summary.stack = traceback.StackSummary.from_list(frames)
    return "".join(summary.format())


def run_work(
    job: Job,
    work: Work,
    call: Callable[[Callable[[Job], None], Job], None],
    host: Host = PLAIN,
    ending: Callable[[], None] | None = None,
) -> None:
    """Run ``work`` for ``job`` in this thread and record how it ended.

    ``call(run, job)`` runs the user's code, ``run(job)``; the thread backend passes one
    that makes the code interruptible by an asynchronous stop, so that nothing here can
    be interrupted (no closure is made for it: a start pays for each).
    ``host`` names the shell's cells in a failure's traceback. ``ending`` is called once
    the work is over and its records collected, just before the final state is set: the
    thread backend frees its worker there, so whoever sees the job finished finds the
    worker free for the next job.
    The records are collected before the final state is set: whoever sees the job
    finished sees all of its output.
    """
    if not job.set_state(RUNNING):
        return  # stopped before it started
    reason: BaseException | None = None
    try:
        call(work.run, job)
    except JobStopped:
        outcome = STOPPED
    except SystemExit as exc:
        outcome = COMPLETED if exc.code in (None, 0) else FAILED
        reason = exc if outcome is FAILED else None
    except BaseException as exc:
        outcome, reason = FAILED, exc
    else:
        outcome = COMPLETED
    if reason is not None:
        job.records.add(Stream.ERROR, reason, format_failure(reason, host))
    job.records.collect()
    if ending is not None:
        ending()
    job.set_state(outcome, reason)
