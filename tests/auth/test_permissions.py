"""Scopes (delegated tokens) and app roles (application tokens): who is let in, and what a refusal names."""

from __future__ import annotations

import pytest
from entra_standin import RunningStandIn

from tests.auth.verifiers import VerifierFactory


async def test_application_token_with_the_required_role(
    standin: RunningStandIn, make_verifier: VerifierFactory
) -> None:
    verifier = make_verifier(required_roles=["Mcp.Invoke"], required_scopes=["Mcp.Invoke"])
    verified = await verifier.check(standin.authority.mint(standin.authority.add_client(roles=["Mcp.Invoke"])))
    assert verified.missing is None
    # The SDK checks AuthSettings.required_scopes (full names) against AccessToken.scopes: they must be there.
    assert set(verifier.policy.required_scope_uris) <= set(verified.access_token.scopes)


async def test_application_token_without_the_role(standin: RunningStandIn, make_verifier: VerifierFactory) -> None:
    verifier = make_verifier(required_roles=["Mcp.Invoke", "Mcp.Write"])
    token = standin.authority.mint(standin.authority.add_client(roles=["Mcp.Invoke"]))
    verified = await verifier.check(token)
    assert verified.missing is not None
    assert verified.missing.description == "Missing app role: Mcp.Write"
    assert await verifier.verify_token(token) is None  # fail closed even without the HTTP gate


async def test_application_token_when_only_scopes_are_required(
    standin: RunningStandIn, make_verifier: VerifierFactory
) -> None:
    """The user's documented trap: client-credentials tokens carry no scp. Refused, with the fix in the message."""
    verifier = make_verifier(required_scopes=["api://whatever/Mcp.Invoke"])
    verified = await verifier.check(standin.authority.mint(standin.authority.add_client(roles=["Mcp.Invoke"])))
    assert verified.missing is not None
    assert verified.missing.names == ("Mcp.Invoke",)
    assert "ENTRA_REQUIRED_APP_ROLES" in verified.missing.description


async def test_delegated_token_needs_the_scope(standin: RunningStandIn, make_verifier: VerifierFactory) -> None:
    verifier = make_verifier(required_scopes=["Mcp.Invoke"], required_roles=["Mcp.Admin"])
    verified = await verifier.check(standin.authority.mint(scp="Mcp.Invoke User.Read"))
    assert verified.missing is None  # app roles are the application tokens' requirement, not the user's
    assert f"{verifier.policy.app_id_uri}/Mcp.Invoke" in verified.access_token.scopes
    lacking = await verifier.check(standin.authority.mint(scp="User.Read"))
    assert lacking.missing is not None and lacking.missing.description == "Missing scope: Mcp.Invoke"


async def test_delegated_token_when_only_roles_are_required(
    standin: RunningStandIn, make_verifier: VerifierFactory
) -> None:
    verifier = make_verifier(required_roles=["Mcp.Invoke"])
    lacking = await verifier.check(standin.authority.mint(scp="Mcp.Invoke"))
    assert lacking.missing is not None and lacking.missing.kind == "app role"
    assigned = await verifier.check(standin.authority.mint(scp="Mcp.Invoke", claims={"roles": ["Mcp.Invoke"]}))
    assert assigned.missing is None


@pytest.mark.parametrize("scp", [None, "Mcp.Invoke"])
async def test_nothing_required_admits_any_authentic_token(
    standin: RunningStandIn, make_verifier: VerifierFactory, scp: str | None
) -> None:
    client = standin.authority.add_client(roles=[])
    verified = await make_verifier().check(standin.authority.mint(client, scp=scp))
    assert verified.missing is None
