"""Verifiers against the shared Entra stand-in (`standin`, in tests/conftest.py) with a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from entra_standin import RunningStandIn

from prynai_mcp.auth.keys import SigningKeys
from prynai_mcp.auth.policy import EntraPolicy
from prynai_mcp.auth.verifier import EntraTokenVerifier
from tests.auth.verifiers import FakeClock, VerifierFactory


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


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
