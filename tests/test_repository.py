"""The repository's indexes: refs by id, exact name (any case) and Job find the same jobs
a scan would, as jobs come and go, and with names several jobs share."""

from __future__ import annotations

import pytest

import ipyjobs
from ipyjobs import Job
from ipyjobs.model.repository import JobRepository


def make(repository: JobRepository, name: str | None = None) -> Job:
    parent_id, child_id = repository.reserve_ids(2)
    parent = Job(parent_id, name=name, job_type="ThreadJob", command="x")
    Job(child_id, job_type="ThreadJob", command="x", parent=parent)
    repository.add(parent)
    return parent


def test_shared_names_resolve_to_every_job_of_that_name_in_id_order():
    repository = JobRepository()
    first, other, second, third = (make(repository, n) for n in ("fit", "x", "Fit", "FIT"))
    assert repository.resolve(["fit"]) == [first, second, third]
    repository.discard(second)
    assert repository.resolve(["FIT"]) == [first, third]
    repository.discard(first)
    assert repository.resolve(["fit"]) == [third]
    repository.discard(third)
    with pytest.raises(ipyjobs.JobNotFoundError, match="no job named 'fit'"):
        repository.resolve(["fit"])
    assert repository.resolve([other.name.upper()]) == [other]


def test_ids_children_and_removed_jobs():
    repository = JobRepository()
    job = make(repository)
    child = job.child_jobs[0]
    assert repository.resolve([job.id, child.name, child]) == [job, child]
    assert repository.all() == [job] and repository.all(include_children=True) == [job, child]
    repository.discard(job)
    for ref in (job.id, job.name, child.name):
        with pytest.raises(ipyjobs.JobNotFoundError):
            repository.resolve([ref])
    with pytest.raises(ipyjobs.JobNotFoundError, match="has been removed"):
        repository.resolve([job])
    assert repository.all(include_children=True) == []
