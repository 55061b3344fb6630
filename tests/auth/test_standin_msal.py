"""MSAL Python, unmodified, against the stand-in over HTTPS: client credentials as a service (LangGraph) does it."""

from __future__ import annotations

from pathlib import Path

import msal  # type: ignore[import-untyped]  # MSAL ships no type information
import pytest
import requests
from entra_standin import RunningStandIn
from entra_standin.tls import TRUST_VARIABLES

from tests.auth.forge import payload_of
from tests.auth.verifiers import VerifierFactory


@pytest.fixture
def trusting(standin: RunningStandIn, monkeypatch: pytest.MonkeyPatch) -> RunningStandIn:
    """Point SSL_CERT_FILE / REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE at the bundle with the stand-in's CA."""
    for name, value in standin.tls.env().items():
        monkeypatch.setenv(name, value)
    return standin


def msal_app(standin: RunningStandIn, client_id: str, secret: str) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        client_id, client_credential=secret, authority=standin.msal_authority, instance_discovery=False
    )


def test_client_credentials_token(trusting: RunningStandIn) -> None:
    authority = trusting.authority
    client = authority.add_client(roles=["Mcp.Invoke"])
    before = authority.counts()
    result = msal_app(trusting, client.client_id, client.secret).acquire_token_for_client(
        scopes=[f"{authority.resource.app_id_uri}/.default"]
    )
    assert "access_token" in result, result
    assert result["token_type"] == "Bearer"
    claims = payload_of(result["access_token"])
    assert claims["aud"] == authority.resource.app_id
    assert claims["iss"] == f"{trusting.url}/{trusting.tenant_id}/v2.0"
    assert claims["tid"] == trusting.tenant_id
    assert claims["azp"] == client.client_id
    assert claims["roles"] == ["Mcp.Invoke"]
    assert claims["ver"] == "2.0"
    assert claims["oid"] == claims["sub"] == client.object_id
    assert claims["nbf"] <= claims["iat"] < claims["exp"]
    assert "scp" not in claims
    after = authority.counts()
    assert after.get("token", 0) == before.get("token", 0) + 1  # really asked the stand-in


async def test_msal_token_passes_the_verifier(trusting: RunningStandIn, make_verifier: VerifierFactory) -> None:
    client = trusting.authority.add_client(roles=["Mcp.Invoke"])
    result = msal_app(trusting, client.client_id, client.secret).acquire_token_for_client(
        scopes=[f"{trusting.authority.resource.app_id_uri}/.default"]
    )
    verified = await make_verifier(required_roles=["Mcp.Invoke"]).check(result["access_token"])
    assert verified.missing is None
    assert verified.access_token.client_id == client.client_id


def test_the_domain_name_works_as_the_tenant(trusting: RunningStandIn) -> None:
    client = trusting.authority.add_client()
    app = msal.ConfidentialClientApplication(
        client.client_id,
        client_credential=client.secret,
        authority=f"{trusting.url}/{trusting.authority.domain}",
        instance_discovery=False,
    )
    result = app.acquire_token_for_client(scopes=[f"{trusting.authority.resource.app_id}/.default"])
    assert payload_of(result["access_token"])["tid"] == trusting.tenant_id


@pytest.mark.parametrize(
    ("secret", "scope", "error", "code"),
    [
        ("wrong-secret", "{uri}/.default", "invalid_client", 7000215),
        (None, "{uri}/Mcp.Invoke", "invalid_scope", 1002012),
        (None, "api://unknown-app/.default", "invalid_resource", 500011),
    ],
)
def test_token_endpoint_errors_look_like_entra(
    trusting: RunningStandIn, secret: str | None, scope: str, error: str, code: int
) -> None:
    client = trusting.authority.add_client()
    app = msal_app(trusting, client.client_id, secret or client.secret)
    result = app.acquire_token_for_client(scopes=[scope.format(uri=trusting.authority.resource.app_id_uri)])
    assert result["error"] == error
    assert result["error_codes"] == [code]
    assert result["error_description"].startswith(f"AADSTS{code}:")


def test_machine_wide_ca_variables_override_an_explicit_verify_path(
    standin: RunningStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the stand-in sets the variables instead of passing its CA: requests (under MSAL) prefers them."""
    system_bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if not system_bundle.is_file():
        pytest.skip("no system CA bundle to point the variables at")
    for name in TRUST_VARIABLES:
        monkeypatch.setenv(name, str(system_bundle))
    session = requests.Session()
    session.verify = str(standin.tls.ca)  # the right CA, but the environment wins
    with pytest.raises(requests.exceptions.SSLError):
        session.get(f"{standin.msal_authority}/v2.0/.well-known/openid-configuration", timeout=5)
    for name, value in standin.tls.env().items():
        monkeypatch.setenv(name, value)
    response = session.get(f"{standin.msal_authority}/v2.0/.well-known/openid-configuration", timeout=5)
    assert response.json()["issuer"] == f"{standin.url}/{standin.tenant_id}/v2.0"
