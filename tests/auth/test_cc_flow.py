"""Client credentials end to end: MSAL (unmodified) gets a token from the stand-in, then the protected HTTPS server
lists tools and adds on both wires; and `examples/smoke_oauth_cc.py` prints what the README promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msal  # type: ignore[import-untyped]  # MSAL ships no type information
import pytest
from entra_standin import ClientApp, RunningStandIn

from tests.auth.protected import mcp_client
from tests.support.server import RunningServer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "smoke_oauth_cc.py"


def msal_token(standin: RunningStandIn, client: ClientApp) -> str:
    app = msal.ConfidentialClientApplication(
        client.client_id, client_credential=client.secret, authority=standin.msal_authority, instance_discovery=False
    )
    result = app.acquire_token_for_client(scopes=[f"{standin.authority.resource.app_id_uri}/.default"])
    assert "access_token" in result, result
    return str(result["access_token"])


async def test_msal_token_lists_tools_and_adds(
    standin: RunningStandIn, entra_server: RunningServer, wire: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in standin.tls.env().items():  # MSAL (requests) trusts the stand-in through these
        monkeypatch.setenv(name, value)
    token = msal_token(standin, standin.authority.add_client(roles=["Mcp.Invoke"]))
    async with mcp_client(entra_server, standin, token, wire) as mcp:
        assert "add" in [tool.name for tool in (await mcp.list_tools()).tools]
        result = await mcp.call_tool("add", {"a": 20, "b": 22})
        assert result.content[0].text == "42"  # type: ignore[union-attr]


def run_example(
    standin: RunningStandIn, entra_server: RunningServer, client: ClientApp, cwd: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **standin.client_env(client), "PRYNAI_MCP_URL": entra_server.mcp_url}
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("wire_flag", ["modern", "legacy"])
def test_smoke_example(standin: RunningStandIn, entra_server: RunningServer, tmp_path: Path, wire_flag: str) -> None:
    client = standin.authority.add_client(roles=["Mcp.Invoke"])
    done = run_example(standin, entra_server, client, tmp_path, "--wire", wire_flag)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("TOOLS: [") and "'add'" in lines[0]
    assert lines[1:] == ["ADD RESULT: 15", "STATUS: ok"]


def test_smoke_example_reads_dotenv(standin: RunningStandIn, entra_server: RunningServer, tmp_path: Path) -> None:
    client = standin.authority.add_client(roles=["Mcp.Invoke"])
    env_file = tmp_path / ".env"
    settings = {**standin.client_env(client), "PRYNAI_MCP_URL": entra_server.mcp_url}
    env_file.write_text("".join(f"{name}={value}\n" for name, value in settings.items()))
    clean = {k: v for k, v in os.environ.items() if k not in settings}
    nested = tmp_path / "examples"
    nested.mkdir()  # run from a subdirectory: the .env is found upwards, as the user's notes hoped
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], env=clean, cwd=nested, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == ["ADD RESULT: 15", "STATUS: ok"]


def test_smoke_example_explains_a_refusal(standin: RunningStandIn, entra_server: RunningServer, tmp_path: Path) -> None:
    client = standin.authority.add_client(roles=[])  # no app role granted: the server requires Mcp.Invoke
    done = run_example(standin, entra_server, client, tmp_path)
    assert done.returncode == 1
    assert "403" in done.stderr and "Missing app role: Mcp.Invoke" in done.stderr


def test_smoke_example_explains_a_bad_secret(
    standin: RunningStandIn, entra_server: RunningServer, tmp_path: Path
) -> None:
    client = standin.authority.add_client(roles=["Mcp.Invoke"])
    bad = ClientApp(client.client_id, "wrong", client.tenant_id, client.object_id, client.roles)
    done = run_example(standin, entra_server, bad, tmp_path)
    assert done.returncode == 1
    assert "invalid_client" in done.stderr and "AADSTS7000215" in done.stderr
