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
LAYERS = ["model", "execution", "backends", "manager", "API", "front ends", "package"]
#: A subpackage's modules are of its folder's layer (docs/architecture.md).
FOLDERS = {"model": 0, "execution": 1, "backends": 2, "manager": 3, "ipython": 5}
#: The modules at the package's top: its entry points, each of the layer named here.
TOP = {"api": 4, "cli": 5, "__init__": 6, "__main__": 6, "demo": 6}
FRONT_ENDS = {"ipython", "cli"}
HEAVY = ("IPython", "traitlets", "asyncio", "ipywidgets", "anywidget", "ipyparallel")
#: What only the IPython front end may import (DESIGN §11).
FRONT_END_ONLY = ("IPython", "ipywidgets", "anywidget")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    """The rank of an ipyjobs module: its folder decides, or, at the top, ``TOP``."""
    parts = module.split(".")[1:] or ["__init__"]
    if parts[0] in FOLDERS:
        return FOLDERS[parts[0]]
    if parts[0] in TOP:
        return TOP[parts[0]]
    raise AssertionError(f"{module} is in no layer: put it in a layer's folder")


def test_folders_are_layers_and_few_modules_stay_at_the_top():
    top = {path.stem for path in PACKAGE.glob("*.py")}
    assert top <= set(TOP) and len(top) <= 6, top
    folders = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert folders == set(FOLDERS), folders
    for module in graph():
        layer_of(module)  # every module is in a layer


def test_each_layer_says_what_lives_there_and_what_it_may_import():
    for folder in FOLDERS:
        doc = ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text()))
        assert doc and "import" in doc.lower(), f"ipyjobs/{folder}/__init__.py: what it imports"


def test_every_module_is_under_500_lines():
    long = {
        module_name(path): lines
        for path in PACKAGE.rglob("*.py")
        if (lines := len(path.read_text().splitlines())) >= 500
    }
    assert not long, long


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
        f"{module} ({LAYERS[layer_of(module)]}) imports {target} ({LAYERS[layer_of(target)]})"
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


def test_only_front_ends_import_ipython_ipywidgets_or_anywidget():
    wrong = [
        f"{module} imports {target}"
        for module, targets in graph().items()
        for target in targets
        if target.split(".")[0] in FRONT_END_ONLY
        and module.split(".")[1:2] != []
        and module.split(".")[1] not in FRONT_ENDS
    ]
    assert not wrong, "\n".join(wrong)


def modules_after(code: str) -> list[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def loaded_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter has loaded after running ``code``."""
    return [m for m in modules_after(code) if m.split(".")[0] in HEAVY]


def ipyjobs_modules_after(code: str) -> list[str]:
    return [m for m in modules_after(code) if m.split(".")[0] == "ipyjobs"]


def test_import_ipyjobs_loads_no_ipython_traitlets_asyncio_or_widgets():
    assert loaded_after("import ipyjobs") == []
    assert ipyjobs_modules_after("import ipyjobs") == [
        "ipyjobs",
        "ipyjobs.execution",
        "ipyjobs.execution.host",
    ]
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
        "ipyjobs.model",
        "ipyjobs.model.errors",
        "ipyjobs.model.state",
        "ipyjobs.model.records",
        "ipyjobs.execution",
        "ipyjobs.execution.host",
        "ipyjobs.execution.capture",
        "ipyjobs.execution.current",
        "ipyjobs.execution.daemons",
        "ipyjobs.execution.sleeping",
        "ipyjobs.execution.asking",  # input() in the job
        "ipyjobs.execution.resources",  # what it used, sent with its end
        "ipyjobs.execution.work",
        "ipyjobs.backends",
        "ipyjobs.backends.shipping",
        "ipyjobs.backends.renamed",  # records of an earlier version, read kernel-side
        "ipyjobs.backends.process_child",
        "ipyjobs.backends.forkserver",  # the child's Process class
    }, ours
