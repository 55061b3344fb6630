from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx2
import pytest
from entra_standin import RunningStandIn, running_standin

from tests.auth.protected import protected_server
from tests.support.server import RunningServer, running_server


@pytest.fixture(scope="session")
def server() -> Iterator[RunningServer]:
    """One default server (embedded backend, no auth) shared by the tests that do not change its settings."""
    with running_server() as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    """A plain HTTP client for speaking the wire by hand (no proxy variables, generous timeout)."""
    async with httpx2.AsyncClient(trust_env=False, timeout=30) as client:
        yield client


@pytest.fixture(params=["legacy", "modern"])
def wire(request: pytest.FixtureRequest) -> str:
    """Run a test once on the session-based wire and once on the 2026-07-28 wire."""
    return str(request.param)


@pytest.fixture(scope="session")
def standin() -> Iterator[RunningStandIn]:
    """The stand-in with a service client holding the app role `Mcp.Invoke` and a loopback public client."""
    with running_standin() as running:
        running.authority.add_client(roles=["Mcp.Invoke"])
        running.authority.add_public_client(redirect_uris=["http://localhost"], permissions=["Mcp.Invoke"])
        yield running


@pytest.fixture(scope="session")
def entra_server(standin: RunningStandIn) -> Iterator[RunningServer]:
    """The server over HTTPS with `AUTH_REQUIRED=true` against `standin`: scope or app role `Mcp.Invoke` required."""
    with protected_server(standin) as running:
        yield running
