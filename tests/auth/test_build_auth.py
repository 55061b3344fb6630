"""From Settings to the SDK's AuthSettings: what the RFC 9728 document will say, and configurations refused early."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from prynai_mcp.auth import build_auth
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


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"AUTH_REQUIRED": "true", "ENTRA_TENANT_ID": TENANT},
            "error: ENTRA_AUDIENCES is empty: name the server app's client id and/or its App ID URI",
        ),
        ({"PRYNAI_MAX_SESSIONS": "0"}, "error: PRYNAI_MAX_SESSIONS: Input should be greater than 0"),
        (
            {"REDIS_URL": "rediss://:key@cache.example.net:10000/0", "PRYNAI_REDIS_AUTH": "entra"},
            "error: REDIS_URL carries a password, but PRYNAI_REDIS_AUTH=entra signs in with a token: drop one",
        ),
        ({"PRYNAI_REDIS_AUTH": "keys"}, "error: PRYNAI_REDIS_AUTH: Input should be 'password' or 'entra'"),
        (
            {"AUTH_REQUIRED": "true", "ENTRA_TENANT_ID": TENANT, "ENTRA_AUDIENCES": APP, "PRYNAI_TOOL_ROLES": "add"},
            "error: PRYNAI_TOOL_ROLES",
        ),
    ],
)
def test_serve_refuses_an_unusable_configuration_in_one_line(env: dict[str, str], message: str, tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PRYNAI_", "ENTRA_", "AUTH_", "REDIS_", "SSL_"))}
    done = subprocess.run(
        [sys.executable, "-m", "prynai_mcp.cli", "serve", "--port", "9"],  # never bound: it stops before listening
        env={**clean, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(message), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
