from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.server import RunningServer, running_server


@pytest.fixture(scope="session")
def server() -> Iterator[RunningServer]:
    """One default server (embedded backend, no auth) shared by the tests that do not change its settings."""
    with running_server() as running:
        yield running


@pytest.fixture(params=["legacy", "modern"])
def wire(request: pytest.FixtureRequest) -> str:
    """Run a test once on the session-based wire and once on the 2026-07-28 wire."""
    return str(request.param)
