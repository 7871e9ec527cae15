"""``input()`` and ``getpass()`` inside a job: the job is Blocked until the user answers.

A background thread cannot read the notebook's stdin (ipykernel would send the request for
whichever cell is running), and a terminal's belongs to the prompt. So a job that asks is
``Blocked``, as in PowerShell: the prompt goes to the job's stdout records as ``input()``
writes it, ``job.prompt`` holds it, and ``send_input`` (``%job_input``, the widget's Send,
``%job_receive`` in a terminal) answers it. The answer to ``input()`` is echoed into the
records after the prompt, as a terminal shows it; a ``getpass()`` answer never is.

The job object does the waiting: a thread job's ``Job`` waits on its own Condition, a
process job's stand-in asks the kernel over its pipe (see ``backends.process_child``).
"""

from __future__ import annotations

from typing import Any

from ..model.errors import JobStopped


def ask(job: Any, prompt: Any, *, secret: bool = False) -> str:
    """Ask ``prompt`` for ``job`` and return the answer (in the job's own thread)."""
    prompt = "" if prompt is None else str(prompt)
    records = job.records
    records.inbox(prompt)
    records.collect()  # the prompt is recorded before anyone sees the job Blocked
    if not job.block(prompt, secret):
        raise JobStopped(f"{job.name} was stopped")
    answer = job.wait_for_answer()
    if answer is None:
        raise JobStopped(f"{job.name} was stopped while it waited for input")
    text, echo = answer
    records.inbox(text + "\n" if echo and not secret else "\n")
    return text
