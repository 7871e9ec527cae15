"""The package's layers import only downward and form no cycle; `import ipyjobs` and a
process job's child load only what they use (docs/architecture.md)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import ipyjobs
from tests import process_jobs

PACKAGE = Path(ipyjobs.__file__).parent

#: Lowest first. A module may import its own layer or a lower one, never a higher one.
LAYERS = {
    "model": {"errors", "state", "records", "job", "repository", "formatting", "store", "spool"},
    "execution": {"host", "asking", "capture", "collector", "execution", "replay", "inside"},
    "manager and backends": {
        "manager",
        "receiving",
        "backends",
        "fanout",
        "deadlines",
        "resources",
    },
    "API": {"api"},
    "front ends": {"_extension", "magics", "transformer", "notices", "widgets", "cli"},
    "package": {"__init__", "demo", "__main__"},
}
FRONT_ENDS = LAYERS["front ends"]
HEAVY = ("IPython", "traitlets", "asyncio", "ipywidgets", "ipyparallel")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    """The rank of an ipyjobs module: its first name under the package decides."""
    parts = module.split(".")[1:] or ["__init__"]
    for rank, names in enumerate(LAYERS.values()):
        if parts[0] in names:
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path, modules: set[str]) -> set[str]:
    """Every module this file imports when it runs (at the top or inside functions),
    but not under ``if TYPE_CHECKING:``."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in child.names:
                    submodule = f"{base}.{alias.name}"
                    found.add(submodule if submodule in modules else base)
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return found


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    return {name: imports(path, modules) for name, path in files.items()}


def test_no_module_imports_a_higher_layer():
    wrong = [
        f"{module} ({list(LAYERS)[layer_of(module)]}) imports {target}"
        f" ({list(LAYERS)[layer_of(target)]})"
        for module, targets in graph().items()
        for target in targets
        if target.split(".")[0] == "ipyjobs"
        and target != module
        and layer_of(target) > layer_of(module)
    ]
    assert not wrong, "\n".join(wrong)


def test_there_is_no_import_cycle():
    edges = {
        module: {t for t in targets if t.split(".")[0] == "ipyjobs" and t != module}
        for module, targets in graph().items()
    }
    visiting: list[str] = []
    done: set[str] = set()

    def walk(module: str) -> None:
        if module in done:
            return
        if module in visiting:
            cycle = [*visiting[visiting.index(module) :], module]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        visiting.append(module)
        for target in sorted(edges.get(module, ())):
            walk(target)
        visiting.pop()
        done.add(module)

    for module in sorted(edges):
        walk(module)


def test_only_front_ends_import_ipython_or_ipywidgets():
    wrong = [
        f"{module} imports {target}"
        for module, targets in graph().items()
        for target in targets
        if target.split(".")[0] in ("IPython", "ipywidgets")
        and module.split(".")[1:2] != []
        and module.split(".")[1] not in FRONT_ENDS
    ]
    assert not wrong, "\n".join(wrong)


def loaded_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return [m for m in json.loads(done.stdout) if m.split(".")[0] in HEAVY]


def test_import_ipyjobs_loads_no_ipython_traitlets_asyncio_or_widgets():
    assert loaded_after("import ipyjobs") == []
    # The helpers a job calls, the model's names, and a Job's attributes stay light too.
    assert loaded_after("from ipyjobs import write_output, JobState, Stream, Job") == []
    # A manager needs traitlets, and only that.
    made = loaded_after("import ipyjobs\nipyjobs.JobManager()")
    assert {m.split(".")[0] for m in made} <= {"traitlets"}


def test_a_process_jobs_child_imports_only_what_it_runs(manager):
    job = ipyjobs.start_job(process_jobs.loaded_modules, backend="process")
    loaded = set(job.result(30))
    assert not [m for m in loaded if m.split(".")[0] in HEAVY], loaded
    ours = {m for m in loaded if m.split(".")[0] == "ipyjobs"}
    assert ours == {
        "ipyjobs",
        "ipyjobs.host",
        "ipyjobs.errors",
        "ipyjobs.state",
        "ipyjobs.records",
        "ipyjobs.capture",
        "ipyjobs.asking",  # input() in the job
        "ipyjobs.resources",  # what it used, sent with its end
        "ipyjobs.execution",
        "ipyjobs.backends",
        "ipyjobs.backends.shipping",
        "ipyjobs.backends.process_child",
        "ipyjobs.backends.forkserver",  # the child's Process class
    }, ours
