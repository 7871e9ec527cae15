"""A failing job's traceback names the real file and shows the failing line, whichever
process ran it, and whatever cloudpickle does to the file names of the code it pickles
(3.1.3 renames them all to ``<dynamic-code>``)."""

from __future__ import annotations

import re

import pytest

import ipyjobs
from ipyjobs import Stream
from tests import process_jobs
from tests.conftest import run

CELL = """def boom(n):
    total = n + 1
    raise ValueError(f"bad data in row {total}")
"""


def define_boom(ip) -> str:
    """Run CELL as a cell of the shell; the name IPython gives that cell (``Cell In[3]``)."""
    result = ip.run_cell(CELL, store_history=True)
    assert result.success
    return f"Cell In[{result.execution_count}]"


def error_text(job: ipyjobs.Job) -> str:
    assert job.wait(30)
    (error,) = [r for r in job.receive(raw=True) if r.stream is Stream.ERROR]
    return error.text


def frames(text: str) -> list[str]:
    """Each frame's heading and its source line, as the user reads them."""
    return [line.strip() for line in text.splitlines()[1:-1]]


@pytest.mark.parametrize("backend", ["process", "thread"])
def test_a_function_from_a_cell_shows_its_cell_and_line(ip, backend):
    cell = define_boom(ip)
    job = run(ip, f"%job_start -b {backend} boom(6)")
    text = error_text(job)
    assert frames(text)[-2:] == [
        f'File "{cell}", line 3, in boom',
        'raise ValueError(f"bad data in row {total}")',
    ], text
    assert text.rstrip().endswith("ValueError: bad data in row 7")
    assert "dynamic-code" not in text


def test_process_and_thread_jobs_show_a_code_job_the_same_way(ip):
    texts = {}
    for backend in ("thread", "process"):
        job = run(ip, f"%job_start -b {backend} x = 1; 1 / (x - 1)")
        texts[backend] = re.sub(r"<ipyjobs-input-\d+>", "<ipyjobs-input-N>", error_text(job))
    assert texts["process"] == texts["thread"]
    assert frames(texts["process"])[:2] == [
        'File "<ipyjobs-input-N>", line 1, in <module>',
        "x = 1; 1 / (x - 1)",
    ], texts["process"]


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_a_job_cell_names_its_frames_as_ipython_names_the_cell(ip, backend):
    """``Cell In[5], line 3`` counting the %%job line, as IPython numbers the cell."""
    count = ip.execution_count
    job = run(ip, f"%%job -b {backend}\nx = 1\n1 / (x - 1)\n")
    assert frames(error_text(job))[:2] == [
        f'File "Cell In[{count}]", line 3, in <module>',
        "1 / (x - 1)",
    ]


def test_a_function_from_a_module_file_shows_that_file_and_line(manager):
    job = ipyjobs.start_job(process_jobs.fails_in_module, backend="process")
    text = error_text(job)
    assert frames(text)[-2:] == [
        f'File "{process_jobs.__file__}", line {process_jobs.FAILING_LINE}, in fails_in_module',
        'raise RuntimeError("from a module file")',
    ], text


def test_a_function_from_a_cell_fails_on_an_engine_with_its_cell_and_line(ip, engines_cluster):
    _, client = engines_cluster
    ipyjobs.get_manager().engines_client = client
    cell = define_boom(ip)
    job = run(ip, "%job_start -e 0 boom(6)")
    text = error_text(job)
    assert frames(text)[-2:] == [
        f'File "{cell}", line 3, in boom',
        'raise ValueError(f"bad data in row {total}")',
    ], text
