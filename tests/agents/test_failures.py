"""What a user sees when it cannot work: one line saying why (a wrong secret, no server or authority, the server
refusing the token for its audience, role or scope), exit status 1, no traceback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from entra_standin import ClientApp, RunningStandIn

from tests.agents.conftest import Outcome, client_settings, run_example
from tests.auth.protected import protected_server
from tests.support.server import RunningServer, free_port, running_server


def assert_one_line(done: Outcome, *fragments: str) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    assert len(done.errors) == 1 and done.stderr.splitlines()[-1] == done.errors[0], done.stderr
    line = done.errors[0]
    for fragment in fragments:
        assert fragment in line, line
    return line


@pytest.fixture(scope="module")
def other_audience(standin: RunningStandIn) -> Iterator[RunningServer]:
    """A server for another app registration: it accepts no token issued for ours."""
    with protected_server(standin, ENTRA_AUDIENCES=f"api://{uuid.uuid4()}") as running:
        yield running


@pytest.fixture(scope="module")
def scopes_only(standin: RunningStandIn) -> Iterator[RunningServer]:
    """A server that requires a delegated scope and no app role: application tokens cannot pass."""
    env = standin.server_env(
        ENTRA_REQUIRED_SCOPES="Mcp.Invoke", SSL_CERTFILE=str(standin.tls.cert), SSL_KEYFILE=str(standin.tls.key)
    )
    with running_server(env, scheme="https", verify=standin.tls.ssl_context()) as running:
        yield running


def test_wrong_secret(example: str, standin: RunningStandIn, protected: RunningServer, tmp_path: Path) -> None:
    client = standin.authority.add_client(roles=["Mcp.Invoke"])
    wrong = ClientApp(client.client_id, "not-the-secret", client.tenant_id, client.object_id, client.roles)
    done = run_example(example, client_settings(standin, wrong, protected.mcp_url), tmp_path)
    assert_one_line(done, "error: Entra ID gave no token: invalid_client: AADSTS7000215", "ENTRA_CLIENT_SECRET")
    assert done.stdout == []  # it stopped before connecting


def test_server_down(example: str, standin: RunningStandIn, agent_client: ClientApp, tmp_path: Path) -> None:
    url = f"https://127.0.0.1:{free_port()}/mcp"  # nothing listens there: refused at once
    done = run_example(example, client_settings(standin, agent_client, url), tmp_path)
    assert_one_line(done, f"error: cannot reach the MCP server at {url}")


def test_missing_role(example: str, standin: RunningStandIn, protected: RunningServer, tmp_path: Path) -> None:
    client = standin.authority.add_client(roles=[])  # registered, but not granted Mcp.Invoke
    done = run_example(example, client_settings(standin, client, protected.mcp_url), tmp_path)
    assert_one_line(
        done,
        "error: the MCP server refused the token (403 insufficient_scope, role): Missing app role: Mcp.Invoke",
        "admin consent",
    )


def test_wrong_audience(
    example: str, standin: RunningStandIn, other_audience: RunningServer, agent_client: ClientApp, tmp_path: Path
) -> None:
    done = run_example(example, client_settings(standin, agent_client, other_audience.mcp_url), tmp_path)
    assert_one_line(
        done,
        "error: the MCP server refused the token (401 invalid_token, audience):",
        "expected audience: api://",
        "SERVER_APP_ID_URI",
    )


def test_scope_required_of_an_application(
    example: str, standin: RunningStandIn, scopes_only: RunningServer, agent_client: ClientApp, tmp_path: Path
) -> None:
    done = run_example(example, client_settings(standin, agent_client, scopes_only.mcp_url), tmp_path)
    assert_one_line(
        done,
        "error: the MCP server refused the token (403 insufficient_scope, scope): Missing scope: Mcp.Invoke",
        "app roles, not scopes",
    )


def test_authority_unreachable(
    example: str, standin: RunningStandIn, protected: RunningServer, agent_client: ClientApp, tmp_path: Path
) -> None:
    authority = f"https://127.0.0.1:{free_port()}"
    settings = {**client_settings(standin, agent_client, protected.mcp_url), "ENTRA_AUTHORITY": authority}
    done = run_example(example, settings, tmp_path)
    assert_one_line(done, f"error: cannot reach the authority at {authority} (check ENTRA_AUTHORITY)")
