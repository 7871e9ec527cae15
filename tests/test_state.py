from __future__ import annotations

import pytest

from ipyjobs import InvalidStateError, JobState
from ipyjobs.state import derive_parent_state

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
