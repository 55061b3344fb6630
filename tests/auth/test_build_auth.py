"""From Settings to the SDK's AuthSettings: what the RFC 9728 document will say, and configurations refused early."""

from __future__ import annotations

from typing import Any

import pytest

from prynai_mcp.auth import EntraAuth, build_auth
from prynai_mcp.config import Settings

TENANT = "11111111-2222-4333-8444-555555555555"
APP = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "auth_required": True,
        "entra_tenant_id": TENANT,
        "entra_audiences": f"{APP},api://{APP}",
        **overrides,
    }
    return Settings(_env_file=None, **values)


def test_auth_settings_for_the_sdk() -> None:
    verifier, auth = build_auth(settings(entra_required_scopes="Mcp.Invoke", prynai_port=8443))
    assert str(auth.issuer_url) == f"https://login.microsoftonline.com/{TENANT}/v2.0"
    assert str(auth.resource_server_url) == "http://127.0.0.1:8443/mcp"
    assert auth.required_scopes == [f"api://{APP}/Mcp.Invoke"]
    assert auth.validate_token_resource is False  # Entra v2 tokens carry no RFC 8707 resource; aud is checked
    assert verifier.policy.audiences == (APP, f"api://{APP}")


def test_public_url_and_tls() -> None:
    _, auth = build_auth(settings(prynai_public_url="https://mcp.example.com/mcp/"))
    assert str(auth.resource_server_url) == "https://mcp.example.com/mcp"
    _, auth = build_auth(settings(ssl_certfile="/c.pem", ssl_keyfile="/k.pem"))
    assert str(auth.resource_server_url) == "https://127.0.0.1:8443/mcp"


def test_sovereign_cloud_authority() -> None:
    _, auth = build_auth(settings(entra_authority="https://login.microsoftonline.us/"))
    assert str(auth.issuer_url) == f"https://login.microsoftonline.us/{TENANT}/v2.0"


def test_a_custom_app_id_uri_prefixes_full_scope_names() -> None:
    _, auth = build_auth(
        settings(entra_audiences=f"{APP},https://api.contoso.com/mcp", entra_required_scopes="api://x/Mcp.Invoke")
    )
    assert auth.required_scopes == ["https://api.contoso.com/mcp/Mcp.Invoke"]


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"entra_audiences": ""}, "ENTRA_AUDIENCES"),
        ({"entra_tenant_id": "common"}, "one tenant"),
        ({"entra_tenant_id": ""}, "one tenant"),
        ({"entra_authority": "http://login.microsoftonline.com"}, "https"),
    ],
)
def test_unusable_configuration_fails_at_start(overrides: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        build_auth(settings(**overrides))


def test_entra_auth_bundles_gate_and_tool_roles() -> None:
    entra = EntraAuth.from_settings(settings(prynai_tool_roles="bump_counter=Mcp.Write"))
    assert len(entra.edge) == 1
    assert len(entra.server_middleware) == 1  # needs PRYNAI_TOOL_ROLES declared in config.py
