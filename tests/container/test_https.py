"""compose.https.yml with a test certificate (trustme) under the file names mkcert gives: /healthz over https, the
image's health check over https, and the SDK client calling `add` over https on both wires."""

from __future__ import annotations

import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import trustme
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.container.conftest import ProductImage
from tests.container.project import TEST_OVERRIDE, Project, compose_project, wait_for_health
from tests.container.test_compose import compose_variables, wait_healthy
from tests.support.clients import MODES
from tests.support.docker import Engine
from tests.support.server import STARTUP_TIMEOUT, free_port


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def certs(ca: trustme.CA) -> Iterator[Path]:
    """A certificate directory as `mkcert 127.0.0.1 localhost` leaves it, readable by the image's uid 10001."""
    directory = Path(tempfile.mkdtemp(prefix="prynai-certs-"))
    directory.chmod(0o755)
    issued = ca.issue_cert("127.0.0.1", "localhost")
    issued.cert_chain_pems[0].write_to_path(str(directory / "127.0.0.1+1.pem"))
    for blob in issued.cert_chain_pems[1:]:
        with (directory / "127.0.0.1+1.pem").open("ab") as chain:
            chain.write(blob.bytes())
    issued.private_key_pem.write_to_path(str(directory / "127.0.0.1+1-key.pem"))
    for path in directory.iterdir():
        path.chmod(0o644)
    yield directory
    for path in directory.iterdir():
        path.unlink()
    directory.rmdir()


@pytest.fixture(scope="module")
def verify(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture(scope="module")
def project(engine: Engine, image: ProductImage, compose_v2_cli: list[str], certs: Path) -> Iterator[Project]:
    port = free_port()
    variables = {
        **compose_variables(image, "prynai-mcp:test-compose", port, free_port()),
        "PRYNAI_CERTS_DIR": str(certs),
    }
    files = ["docker-compose.yml", "compose.https.yml", TEST_OVERRIDE]
    with compose_project(engine, compose_v2_cli, files, variables, "https") as running:
        running.variables["URL"] = f"https://127.0.0.1:{port}"
        running.run("up", "-d", "--build")
        yield running


def test_healthz_over_https(project: Project, verify: ssl.SSLContext) -> None:
    wait_for_health(project.variables["URL"], {"status": "ok", "redis": True}, STARTUP_TIMEOUT, verify=verify)
    with httpx2.Client(verify=verify, trust_env=False) as http:
        assert http.get(f"{project.variables['URL']}/healthz").text == '{"status":"ok","redis":true}'
    [container] = project.containers("mcp")
    wait_healthy(project, container)  # the image's check found TLS on from SSL_CERTFILE/SSL_KEYFILE


@pytest.mark.parametrize("wire", ["legacy", "modern"])
async def test_sdk_client_calls_add_over_https(project: Project, verify: ssl.SSLContext, wire: str) -> None:
    wait_for_health(project.variables["URL"], {"status": "ok", "redis": True}, STARTUP_TIMEOUT, verify=verify)
    # An explicit trust store, not the machine's SSL_CERT_FILE (DESIGN.md section 6).
    http = httpx2.AsyncClient(verify=verify, trust_env=False, timeout=30)
    transport = streamable_http_client(f"{project.variables['URL']}/mcp", http_client=http)
    async with Client(transport, mode=MODES[wire]) as mcp:
        added = await mcp.call_tool("add", {"a": 7, "b": 8})
    assert added.content[0].text == "15"  # type: ignore[union-attr]
