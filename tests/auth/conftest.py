from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from entra_standin import RunningStandIn, running_standin

from prynai_mcp.auth.keys import SigningKeys
from prynai_mcp.auth.policy import EntraPolicy
from prynai_mcp.auth.verifier import EntraTokenVerifier


class FakeClock:
    """Monotonic time the test moves by hand: the refetch rate limit without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def standin() -> Iterator[RunningStandIn]:
    with running_standin() as running:
        running.authority.add_client(roles=["Mcp.Invoke"])
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


VerifierFactory = Callable[..., EntraTokenVerifier]


@pytest.fixture
async def make_verifier(standin: RunningStandIn, clock: FakeClock) -> AsyncIterator[VerifierFactory]:
    """Verifiers for a stand-in's tenant (default: the shared one); keyword arguments override the policy."""
    made: list[EntraTokenVerifier] = []
    shared = standin

    def make(
        *,
        standin: RunningStandIn = shared,
        refetch_interval: float = 60.0,
        max_age: float = 3600.0,
        **policy: Any,
    ) -> EntraTokenVerifier:
        resource = standin.authority.resource
        options: dict[str, Any] = {
            "authority": standin.url,
            "tenant": standin.tenant_id,
            "audiences": [resource.app_id, resource.app_id_uri],
            **policy,
        }
        keys = SigningKeys(
            standin.url,
            options["tenant"],
            ssl_context=standin.tls.ssl_context(),
            refetch_interval=refetch_interval,
            max_age=max_age,
            clock=clock,
        )
        verifier = EntraTokenVerifier(EntraPolicy.create(**options), keys)
        made.append(verifier)
        return verifier

    yield make
    for verifier in made:
        await verifier.aclose()
