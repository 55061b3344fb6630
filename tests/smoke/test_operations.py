"""What an operator relies on: the health endpoints, the status resource naming the deployment, the JSON log lines
and their level, how the server is started (`python -m prynai_mcp.server`, `PRYNAI_HOST`/`PRYNAI_PORT`, 8443 with
TLS) and the SSE reconnect delay it advertises (README: "Run it", "Settings", "HTTP endpoints", "Logs")."""

from __future__ import annotations

import socket
import ssl
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
import trustme

from tests.support.clients import client, read_status
from tests.support.raw import PROTOCOL, RawSession
from tests.support.server import RunningServer, free_port, running_server
from tests.support.waiting import eventually


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


async def test_health_endpoints_without_redis(server: RunningServer, http: httpx2.AsyncClient) -> None:
    healthz = await http.get(f"{server.url}/healthz")
    assert healthz.status_code == 200
    assert healthz.json() == {"status": "ok", "redis": None}  # null: no Redis configured
    assert healthz.headers["cache-control"] == "no-store"
    readyz = await http.get(f"{server.url}/readyz")
    assert readyz.status_code == 200 and readyz.json() == {"status": "ok", "redis": None}
    livez = await http.get(f"{server.url}/livez")
    assert livez.status_code == 200 and livez.json() == {"status": "ok"}


async def test_status_names_the_deployment(wire: str) -> None:
    with running_server({"PRYNAI_ENV": "staging", "PRYNAI_BUILD": "3f2a9c1"}) as named:
        async with client(named.mcp_url, wire) as mcp:
            status = await read_status(mcp)
    assert status["environment"] == "staging" and status["build"] == "3f2a9c1"
    assert status["version"] == version("prynai-mcp")
    assert status["backend"] == "memory" and status["status"] == "ok"
    assert isinstance(status["uptime_seconds"], int | float) and status["uptime_seconds"] >= 0


async def test_each_request_gets_an_http_and_an_mcp_log_line(server: RunningServer, http: httpx2.AsyncClient) -> None:
    since = server.log_size()
    session = RawSession(http, [server.mcp_url])
    sid = await session.open()
    answered = await http.post(server.mcp_url, json=session.call(5, "add", {"a": 2, "b": 3}), headers=session.headers())
    assert answered.status_code == 200
    records = server.log_records(since)

    calls = [r for r in records if r.get("event") == "mcp" and r.get("method") == "tools/call" and r["session"] == sid]
    assert len(calls) == 1, records
    call = calls[0]
    assert (call["tool"], call["protocol_version"], call["status"], call["level"]) == ("add", PROTOCOL, "ok", "info")
    assert isinstance(call["duration_ms"], int | float) and call["duration_ms"] >= 0
    assert call["logger"] == "prynai_mcp.mcp" and call["ts"].endswith("+00:00")

    def posts() -> list[dict[str, Any]]:
        lines = server.log_records(since)
        return [r for r in lines if r.get("event") == "http" and r["session"] == sid and r["http_method"] == "POST"]

    # A request's http line is written when its response ends; initialize's SSE response may end after the call's.
    await eventually(lambda: len(posts()) >= 3, 5)
    assert sorted(r["status"] for r in posts()) == [200, 200, 202]  # initialize, the call, notifications/initialized
    assert all(r["path"] == "/mcp" and isinstance(r["duration_ms"], int | float) for r in posts())


JUNK_SESSION = "x" * 20_000  # far past any session id, within PRYNAI_MAX_HEADER_BYTES
LOGGED_JUNK = "invalid:" + "x" * 64 + "…"
MODERN_LIST = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/list",
    "params": {
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        }
    },
}


async def test_a_junk_session_id_is_not_copied_into_the_log(server: RunningServer, http: httpx2.AsyncClient) -> None:
    """Each request's lines stay a few hundred bytes whatever Mcp-Session-Id says: a valid id is logged as it is,
    anything else as `invalid:` and its first 64 characters."""
    since = server.log_size()
    junk = {"Mcp-Session-Id": JUNK_SESSION, "Accept": "application/json, text/event-stream"}
    legacy = await http.post(server.mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=junk)
    assert legacy.status_code == 404
    modern_headers = {**junk, "Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"}
    modern = await http.post(server.mcp_url, json=MODERN_LIST, headers=modern_headers)  # this wire ignores the header
    assert modern.status_code == 200, modern.text
    await eventually(lambda: len([r for r in server.log_records(since) if r.get("event") == "http"]) >= 2, 5)

    written = server.log(since)
    assert max(len(line) for line in written.splitlines()) < 1000
    records = server.log_records(since)
    assert [r["session"] for r in records if r.get("event") == "http"] == [LOGGED_JUNK, LOGGED_JUNK]
    assert [r["session"] for r in records if r.get("event") == "mcp"] == [None]  # the modern call: no session


async def test_log_level_warning_drops_the_request_lines(http: httpx2.AsyncClient) -> None:
    with running_server({"PRYNAI_LOG_LEVEL": "WARNING"}) as quiet:
        session = RawSession(http, [quiet.mcp_url])
        await session.open()
        await http.post(quiet.mcp_url, json=session.call(5, "add", {"a": 2, "b": 3}), headers=session.headers())
        await http.get(f"{quiet.url}/healthz")
        records = quiet.log_records()
    assert [r for r in records if r.get("level") in ("debug", "info")] == []
    assert not [r for r in records if "raw" in r and r["raw"].strip()], records  # nothing printed outside JSON


async def test_python_m_server_serves_on_the_default_port(tmp_path: Path, http: httpx2.AsyncClient) -> None:
    if not port_is_free(8000):
        pytest.skip("port 8000 on 127.0.0.1 is taken by another program: the default port cannot be shown")
    command = [sys.executable, "-m", "prynai_mcp.server"]
    with running_server(port=8000, command=command, cwd=tmp_path) as default:
        assert default.url == "http://127.0.0.1:8000"
        assert (await http.get("http://127.0.0.1:8000/healthz")).json() == {"status": "ok", "redis": None}
        async with client("http://127.0.0.1:8000/mcp", "modern") as mcp:
            assert (await mcp.call_tool("add", {"a": 2, "b": 3})).structured_content == {"result": 5}
    assert default.process.returncode == 0  # SIGTERM: drained and exited cleanly


async def test_host_and_port_come_from_the_environment(tmp_path: Path, http: httpx2.AsyncClient) -> None:
    port = free_port()
    command = [sys.executable, "-m", "prynai_mcp.cli", "serve"]
    env = {"PRYNAI_HOST": "127.0.0.1", "PRYNAI_PORT": str(port)}
    with running_server(env, port=port, command=command, cwd=tmp_path):
        assert (await http.get(f"http://127.0.0.1:{port}/livez")).status_code == 200


async def test_tls_serves_https_on_8443_by_default(tmp_path: Path) -> None:
    if not port_is_free(8443):
        pytest.skip("port 8443 on 127.0.0.1 is taken by another program: the default TLS port cannot be shown")
    ca = trustme.CA()
    certificate = ca.issue_cert("127.0.0.1", "localhost")
    cert, key = tmp_path / "127.0.0.1+1.pem", tmp_path / "127.0.0.1+1-key.pem"  # mkcert's names, as the README
    certificate.private_key_and_cert_chain_pem.write_to_path(str(cert))
    certificate.private_key_pem.write_to_path(str(key))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    command = [sys.executable, "-m", "prynai_mcp.cli", "serve"]
    env = {"SSL_CERTFILE": str(cert), "SSL_KEYFILE": str(key)}
    with running_server(env, port=8443, command=command, cwd=tmp_path, scheme="https", verify=context) as tls:
        assert tls.url == "https://127.0.0.1:8443"
        async with httpx2.AsyncClient(verify=context, trust_env=False) as https:
            assert (await https.get("https://127.0.0.1:8443/healthz")).json()["status"] == "ok"
        with pytest.raises(httpx2.HTTPError):  # no plain HTTP on the TLS port
            async with httpx2.AsyncClient(trust_env=False) as plain:
                await plain.get("http://127.0.0.1:8443/healthz")


async def test_get_streams_advertise_the_configured_retry(http: httpx2.AsyncClient) -> None:
    with running_server({"PRYNAI_SSE_RETRY_MS": "700"}) as configured:
        session = RawSession(http, [configured.mcp_url])
        await session.open()
        async with http.stream("GET", configured.mcp_url, headers=session.headers(Accept="text/event-stream")) as get:
            first = await anext(get.aiter_lines())
    assert first == "retry: 700"


async def test_an_idle_connection_outlives_uvicorns_default_keepalive() -> None:
    """A balancer reuses idle connections; one the server closed after uvicorn's default 5 s would fail a request.
    PRYNAI_HTTP_KEEPALIVE_SECONDS (75 by default) keeps it open; here set to 8, and the connection waits 6 s."""
    with running_server({"PRYNAI_HTTP_KEEPALIVE_SECONDS": "8"}) as patient:
        port = int(patient.url.rsplit(":", 1)[1])
        request = f"GET /livez HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        stream = await anyio.connect_tcp("127.0.0.1", port)
        async with stream:
            for wait in (6, 0):  # past uvicorn's default keep-alive, within the configured one
                await stream.send(request)
                with anyio.fail_after(5):
                    answer = await stream.receive()
                assert answer.startswith(b"HTTP/1.1 200"), answer
                await anyio.sleep(wait)
