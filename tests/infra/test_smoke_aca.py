"""scripts/smoke_aca.sh against a local server over HTTPS with authentication on (the Entra stand-in): it prints the
health answer and the user's three lines, for a base URL or an /mcp URL; and it stops on "redis": false with the
hint the user's troubleshooting list gives."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from entra_standin import RunningStandIn, running_standin

from tests.auth.protected import protected_server
from tests.support.server import RunningServer, free_port, running_server

SMOKE = Path(__file__).resolve().parents[2] / "scripts" / "smoke_aca.sh"


@pytest.fixture(scope="module")
def standin() -> Iterator[RunningStandIn]:
    with running_standin() as running:
        yield running


@pytest.fixture(scope="module")
def server(standin: RunningStandIn) -> Iterator[RunningServer]:
    with protected_server(standin) as running:
        yield running


def smoke(url: str, env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ENTRA_", "PRYNAI_", "SERVER_"))}
    return subprocess.run(
        ["bash", str(SMOKE), url, *args],
        env={**clean, **env, "PRYNAI_SMOKE_PYTHON": sys.executable},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=90,
    )


@pytest.mark.parametrize("path", ["", "/mcp"])
def test_prints_health_and_the_users_lines(
    standin: RunningStandIn, server: RunningServer, tmp_path: Path, path: str
) -> None:
    client = standin.authority.add_client(roles=["Mcp.Invoke"])
    done = smoke(server.url + path, standin.client_env(client), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"== GET {server.url}/healthz"
    assert lines[1] == '{"status":"ok","redis":null}'
    assert lines[2] == f"== client-credentials smoke against {server.url}/mcp"
    assert lines[3].startswith("TOOLS: [") and "'add'" in lines[3]
    assert lines[4:] == ["ADD RESULT: 15", "STATUS: ok"]


def test_legacy_wire_and_settings_from_env_file(standin: RunningStandIn, server: RunningServer, tmp_path: Path) -> None:
    client = standin.authority.add_client(roles=["Mcp.Invoke"])
    settings = {**standin.client_env(client), "PRYNAI_MCP_URL": server.mcp_url}
    (tmp_path / ".env").write_text("".join(f"{name}={value}\n" for name, value in settings.items()))
    trust = standin.tls.env()  # curl and MSAL find the stand-in's CA through these; the rest comes from .env
    done = smoke("", trust, tmp_path, "--wire", "legacy")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-2:] == ["ADD RESULT: 15", "STATUS: ok"]


def test_stops_when_redis_is_unreachable(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there: the server reports "redis": false
    with running_server({"REDIS_URL": f"redis://127.0.0.1:{closed}/0"}) as unhealthy:
        done = smoke(unhealthy.url, {}, tmp_path)
    assert done.returncode == 1
    assert '"redis":false' in done.stdout
    assert "rediss://:<key>@<host>:6380/0" in done.stderr
    assert "TOOLS:" not in done.stdout


def test_an_unreachable_url_is_one_clear_line(tmp_path: Path) -> None:
    done = smoke(f"https://127.0.0.1:{free_port()}", {}, tmp_path)
    assert done.returncode == 1
    assert "cannot be reached" in done.stderr
