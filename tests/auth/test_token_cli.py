"""`prynai-mcp token` prints a client-credentials token from the authority; `--decode` shows its claims."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from entra_standin import RunningStandIn


def token_command(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ENTRA_", "SERVER_APP"))}
    return subprocess.run(
        [sys.executable, "-m", "prynai_mcp.cli", "token", *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_token_and_decode(standin: RunningStandIn, tmp_path: Path) -> None:
    client = standin.authority.add_client(roles=["Mcp.Invoke"])
    env = standin.client_env(client)
    plain = token_command(env, tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.count(".") == 2  # a JWT: header.payload.signature

    decoded = token_command(env, tmp_path, "--decode")
    assert decoded.returncode == 0, decoded.stderr
    described = json.loads(decoded.stdout)
    claims = described["claims"]
    assert described["header"]["alg"] == "RS256"
    assert claims["aud"] == standin.authority.resource.app_id
    assert claims["roles"] == ["Mcp.Invoke"]
    assert claims["azp"] == client.client_id


def test_missing_settings_are_named(tmp_path: Path) -> None:
    done = token_command({}, tmp_path)
    assert done.returncode == 2
    assert "ENTRA_TENANT_ID" in done.stderr and "SERVER_APP_ID_URI" in done.stderr


def test_a_bad_secret_shows_the_authority_reason(standin: RunningStandIn, tmp_path: Path) -> None:
    client = standin.authority.add_client(roles=["Mcp.Invoke"])
    env = {**standin.client_env(client), "ENTRA_CLIENT_SECRET": "wrong"}
    done = token_command(env, tmp_path)
    assert done.returncode == 1
    assert "invalid_client" in done.stderr
