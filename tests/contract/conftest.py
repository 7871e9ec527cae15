"""The contract suite runs once per backend; a new backend adds its name here."""

from __future__ import annotations

import pytest

BACKENDS = ["thread", "process"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, manager) -> str:
    manager.default_backend = request.param
    return request.param
