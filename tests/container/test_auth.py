"""Entra ID protection in compose, configured the README's way: the Entra settings in the .env file compose reads.
The authority is the local stand-in (HTTPS on loopback); the client-credentials example gets a token from it with
MSAL and calls the server in the container."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from entra_standin import RunningStandIn, running_standin

from tests.container.conftest import ProductImage
from tests.container.project import TEST_OVERRIDE, Project, compose_project, wait_for_health
from tests.container.test_compose import compose_variables
from tests.support.docker import REPO, Engine
from tests.support.server import STARTUP_TIMEOUT, free_port

AUTH_OVERRIDE = "tests/container/compose.test-auth.yml"


@pytest.fixture(scope="module")
def entra() -> Iterator[RunningStandIn]:
    with running_standin() as running:
        running.authority.add_client(roles=["Mcp.Invoke"])
        yield running


@pytest.fixture(scope="module")
def project(engine: Engine, image: ProductImage, compose_v2_cli: list[str], entra: RunningStandIn) -> Iterator[Project]:
    scratch = Path(tempfile.mkdtemp(prefix="prynai-auth-"))
    scratch.chmod(0o755)
    shutil.copy(entra.tls.ca, scratch / "ca.pem")
    (scratch / "ca.pem").chmod(0o644)
    resource = entra.authority.resource
    dotenv = scratch / ".env"
    dotenv.write_text(
        "AUTH_REQUIRED=true\n"
        f"ENTRA_TENANT_ID={entra.tenant_id}\n"
        f"ENTRA_AUDIENCES={resource.app_id},{resource.app_id_uri}\n"
        "ENTRA_REQUIRED_APP_ROLES=Mcp.Invoke\n"
        f"ENTRA_AUTHORITY={entra.url}\n"
    )
    port = free_port()
    variables = {
        **compose_variables(image, "prynai-mcp:test-compose", port, free_port()),
        "PRYNAI_TEST_STANDIN_CA_DIR": str(scratch),
    }
    files = ["docker-compose.yml", TEST_OVERRIDE, AUTH_OVERRIDE]
    with compose_project(engine, compose_v2_cli, files, variables, "auth", env_file=dotenv) as running:
        running.variables["URL"] = f"http://127.0.0.1:{port}"
        running.run("up", "-d", "--build")
        wait_for_health(running.variables["URL"], {"status": "ok", "redis": True}, STARTUP_TIMEOUT)
        yield running
    shutil.rmtree(scratch)


def test_mcp_refuses_a_request_without_a_token(project: Project) -> None:
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    with httpx2.Client(trust_env=False) as http:
        refused = http.post(f"{project.variables['URL']}/mcp", json=initialize, headers=headers)
    assert refused.status_code == 401
    assert "resource_metadata=" in refused.headers["www-authenticate"]


def test_client_credentials_example_calls_the_container(
    project: Project, entra: RunningStandIn, tmp_path: Path
) -> None:
    env = {**os.environ, **entra.client_env(), "PRYNAI_MCP_URL": f"{project.variables['URL']}/mcp"}
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "smoke_oauth_cc.py")],
        env=env,
        cwd=tmp_path,  # no .env around: the settings above only
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "TOOLS: ['add', 'echo', 'long_task', 'summarize_via_client_llm', 'bump_counter']",
        "ADD RESULT: 15",
        "STATUS: ok",
    ]
