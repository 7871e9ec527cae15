from __future__ import annotations

import pytest

from ipyjobs import InvalidStateError, JobState
from ipyjobs.model.state import derive_parent_state

S = JobState


@pytest.mark.parametrize(
    ("children", "parent"),
    [
        ([S.NOT_STARTED, S.NOT_STARTED], S.NOT_STARTED),
        ([S.RUNNING, S.NOT_STARTED], S.RUNNING),
        ([S.COMPLETED, S.NOT_STARTED], S.RUNNING),
        ([S.RUNNING, S.BLOCKED], S.BLOCKED),
        ([S.RUNNING, S.STOPPING], S.STOPPING),
        ([S.SUSPENDED, S.COMPLETED], S.SUSPENDED),
        ([S.SUSPENDED, S.RUNNING], S.RUNNING),
        ([S.COMPLETED, S.COMPLETED], S.COMPLETED),
        ([S.COMPLETED, S.STOPPED], S.STOPPED),
        ([S.STOPPED, S.FAILED, S.COMPLETED], S.FAILED),
        ([S.FAILED, S.RUNNING], S.RUNNING),
        ([S.SUSPENDING, S.COMPLETED], S.SUSPENDING),
        ([S.DISCONNECTED, S.NOT_STARTED], S.DISCONNECTED),
        ([S.BLOCKED, S.STOPPING], S.BLOCKED),
        ([S.STOPPED, S.COMPLETED, S.STOPPED], S.STOPPED),
    ],
)
def test_parent_state_is_derived_from_children(children, parent):
    assert derive_parent_state(children) is parent


def test_states_are_powershell_names_and_parse_case_insensitively():
    assert JobState.RUNNING == "Running"
    assert JobState.parse("notstarted") is JobState.NOT_STARTED
    assert JobState.parse("Not_Started") is JobState.NOT_STARTED
    assert {s for s in JobState if s.finished} == {S.COMPLETED, S.FAILED, S.STOPPED}
    with pytest.raises(InvalidStateError, match="unknown job state 'Paused'"):
        JobState.parse("Paused")
    with pytest.raises(ValueError):
        JobState.parse(3)


def _parent_of_two():
    from ipyjobs.model.job import Job

    parent = Job(1, job_type="ThreadJob", command="f")
    parent.count_children()
    children = [Job(n, job_type="ThreadJob", command="f", parent=parent) for n in (2, 3)]
    return parent, children


def test_a_change_made_while_another_thread_counts_is_counted_by_that_thread():
    """Children's changes are queued and counted by whichever thread holds the parent's
    counting lock (flat combining): one made meanwhile never waits for it, and the holder
    counts it once it lets go, so the parent still finishes."""
    import threading

    parent, (first, second) = _parent_of_two()
    inside, go = threading.Event(), threading.Event()

    def hold(job, previous, new):  # runs while its thread holds the counting lock
        if new is S.RUNNING:
            inside.set()
            assert go.wait(10)

    parent.add_state_callback(hold)
    holder = threading.Thread(target=first.set_state, args=(S.RUNNING,))
    holder.start()
    assert inside.wait(10)
    # Meanwhile every other change returns at once, counted later by the holder.
    assert second.set_state(S.RUNNING) and second.set_state(S.COMPLETED)
    assert first.set_state(S.COMPLETED)
    assert parent.state is S.RUNNING
    go.set()
    holder.join(10)
    assert not holder.is_alive()
    assert parent.state is S.COMPLETED
    assert parent.state_counts() == {S.COMPLETED: 2}


def test_a_parent_fails_with_its_failed_childs_reason_when_counting():
    parent, (first, second) = _parent_of_two()
    error = ValueError("bad row")
    first.set_state(S.RUNNING)
    first.set_state(S.FAILED, error)
    assert parent.state is S.RUNNING
    second.set_state(S.COMPLETED)
    assert parent.state is S.FAILED and parent.reason is error
    assert parent.state_counts() == {S.FAILED: 1, S.COMPLETED: 1}
