"""The HTTP edge as configured: allowed Host names (exact, `*.suffix`, `*`), allowed Origins, CORS with the exposed
headers, the body-size limit, the session cap, and JSON-only answers (README, "Settings").

Each configuration is a real server started with that setting; requests are what a browser, a proxy or an attacker
would send, and the assertions are on the status, headers and JSON-RPC body the README documents.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from tests.support.documented import INVALID_REQUEST
from tests.support.raw import ACCEPT, PROTOCOL, RawSession
from tests.support.server import RunningServer, running_server

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "edge", "version": "1"}},
}
BROWSER_APP = "https://app.example.com"  # CORS_ALLOW_ORIGINS
TOOLS_PAGE = "https://tools.example.org"  # PRYNAI_ALLOWED_ORIGINS
MAX_BODY = 2048


@pytest.fixture(scope="module")
def edge() -> Iterator[RunningServer]:
    """A server behind a proxy named mcp.example.com, also serving every *.apps.example.net, called from browsers."""
    env = {
        "PRYNAI_ALLOWED_HOSTS": "mcp.example.com,*.apps.example.net,fe80::1",
        "PRYNAI_ALLOWED_ORIGINS": TOOLS_PAGE,
        "CORS_ALLOW_ORIGINS": BROWSER_APP,
        "PRYNAI_MAX_BODY_BYTES": str(MAX_BODY),
    }
    with running_server(env) as running:
        yield running


async def initialize(http: httpx2.AsyncClient, url: str, **headers: str) -> httpx2.Response:
    return await http.post(url, json=INITIALIZE, headers={"Accept": ACCEPT, **headers})


def refusal(response: httpx2.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None
    return dict(body["error"])


@pytest.mark.parametrize(
    "host", ["mcp.example.com", "MCP.example.com:443", "eu.apps.example.net", "a.b.apps.example.net", "fe80::1"]
)
async def test_allowed_host_names_are_served(edge: RunningServer, http: httpx2.AsyncClient, host: str) -> None:
    response = await initialize(http, edge.mcp_url, Host=host)
    assert response.status_code == 200, response.text
    assert response.headers["mcp-session-id"]


@pytest.mark.parametrize(
    "host", ["apps.example.net", "evilapps.example.net", "mcp.example.com.evil", "127.0.0.1", "fe80::2"]
)
async def test_other_host_names_get_421(edge: RunningServer, http: httpx2.AsyncClient, host: str) -> None:
    # The list replaces the loopback default, and `*.apps.example.net` means subdomains only.
    response = await initialize(http, edge.mcp_url, Host=host)
    assert response.status_code == 421
    error = refusal(response)
    assert error == {"code": INVALID_REQUEST, "message": f"Host {host!r} is not allowed (PRYNAI_ALLOWED_HOSTS)"}


@pytest.mark.parametrize(
    "origin",
    [
        BROWSER_APP,  # granted CORS
        TOOLS_PAGE,  # PRYNAI_ALLOWED_ORIGINS
        "https://eu.apps.example.net",  # a page served from an allowed host
        "https://mcp.example.com:8443/",  # same, with a port and a trailing slash
    ],
)
async def test_allowed_origins_may_call(edge: RunningServer, http: httpx2.AsyncClient, origin: str) -> None:
    response = await initialize(http, edge.mcp_url, Host="mcp.example.com", Origin=origin)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("origin", ["https://attacker.example", "http://localhost:6274", "null", "file://"])
async def test_other_origins_get_403(edge: RunningServer, http: httpx2.AsyncClient, origin: str) -> None:
    response = await initialize(http, edge.mcp_url, Host="mcp.example.com", Origin=origin)
    assert response.status_code == 403
    assert refusal(response) == {
        "code": INVALID_REQUEST,
        "message": f"Origin {origin!r} is not allowed (CORS_ALLOW_ORIGINS, PRYNAI_ALLOWED_ORIGINS)",
    }


async def test_cors_preflight_allows_the_mcp_headers(edge: RunningServer, http: httpx2.AsyncClient) -> None:
    asked = "authorization, content-type, mcp-session-id, mcp-protocol-version, mcp-method, mcp-name, last-event-id"
    response = await http.options(
        edge.mcp_url,
        headers={
            "Host": "mcp.example.com",
            "Origin": BROWSER_APP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": asked,
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == BROWSER_APP
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {h.strip() for h in asked.split(",")} <= allowed
    assert {"GET", "POST", "DELETE"} <= {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}


async def test_cors_preflight_from_an_origin_without_cors_is_refused(
    edge: RunningServer, http: httpx2.AsyncClient
) -> None:
    # PRYNAI_ALLOWED_ORIGINS lets a non-browser caller send that Origin; it grants no CORS to a browser page.
    response = await http.options(
        edge.mcp_url,
        headers={"Host": "mcp.example.com", "Origin": TOOLS_PAGE, "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_cors_exposes_the_session_id_to_the_page(edge: RunningServer, http: httpx2.AsyncClient) -> None:
    response = await initialize(http, edge.mcp_url, Host="mcp.example.com", Origin=BROWSER_APP)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == BROWSER_APP
    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"mcp-session-id", "www-authenticate"} <= exposed


async def test_body_limit_is_the_configured_size(edge: RunningServer, http: httpx2.AsyncClient) -> None:
    def body_of(size: int) -> bytes:
        base = json.dumps({**INITIALIZE, "params": {**INITIALIZE["params"], "pad": ""}}).encode()  # type: ignore[dict-item]
        padded = base.replace(b'"pad": ""', b'"pad": "' + b"x" * (size - len(base)) + b'"')
        assert len(padded) == size
        return padded

    headers = {"Host": "mcp.example.com", "Accept": ACCEPT, "Content-Type": "application/json"}
    at_limit = await http.post(edge.mcp_url, content=body_of(MAX_BODY), headers=headers)
    assert at_limit.status_code == 200, at_limit.text
    over = await http.post(edge.mcp_url, content=body_of(MAX_BODY + 1), headers=headers)
    assert over.status_code == 413
    error = refusal(over)
    assert error["code"] == INVALID_REQUEST and "too large" in error["message"]


async def test_any_host_with_star(http: httpx2.AsyncClient) -> None:
    with running_server({"PRYNAI_ALLOWED_HOSTS": "*"}) as anywhere:
        for host in ("mcp.example.com", "10.0.0.7:8000", "anything.invalid"):
            response = await initialize(http, anywhere.mcp_url, Host=host)
            assert response.status_code == 200, (host, response.text)


async def test_any_origin_with_star(http: httpx2.AsyncClient) -> None:
    with running_server({"PRYNAI_ALLOWED_ORIGINS": "*"}) as open_origins:
        response = await initialize(http, open_origins.mcp_url, Origin="https://attacker.example")
        assert response.status_code == 200, response.text
        # The Host check still applies: `*` origins are not `*` hosts.
        foreign = await initialize(http, open_origins.mcp_url, Host="attacker.example")
        assert foreign.status_code == 421


async def test_session_cap_answers_503_until_a_session_ends(http: httpx2.AsyncClient) -> None:
    with running_server({"PRYNAI_MAX_SESSIONS": "2"}) as capped:
        sessions = [RawSession(http, [capped.mcp_url]) for _ in range(2)]
        for session in sessions:
            await session.open()
        refused = await initialize(http, capped.mcp_url)
        assert refused.status_code == 503
        assert "mcp-session-id" not in refused.headers
        assert refusal(refused)["message"]
        # The open sessions are unaffected, and ending one makes room.
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        ok = await http.post(capped.mcp_url, json=listing, headers=sessions[0].headers())
        assert ok.status_code == 200 and '"add"' in ok.text
        assert (await http.delete(capped.mcp_url, headers=sessions[1].headers())).status_code == 200
        again = await initialize(http, capped.mcp_url)
        assert again.status_code == 200 and again.headers["mcp-session-id"]


async def test_json_response_answers_every_post_with_one_json_body(http: httpx2.AsyncClient) -> None:
    with running_server({"PRYNAI_JSON_RESPONSE": "true", "PRYNAI_SSE_AFTER_MS": "0"}) as json_only:
        session = RawSession(http, [json_only.mcp_url])
        await session.open()
        # long_task sends progress first, which would open a stream; in JSON mode the progress is given up.
        call = session.call(3, "long_task", {"steps": 2, "delay_seconds": 0.01})
        response = await http.post(json_only.mcp_url, json=call, headers=session.headers())
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json"), response.text
        body = response.json()
        assert body["id"] == 3 and body["result"]["content"][0]["text"] == "done"


@pytest.mark.parametrize(("host", "status"), [("[::1]:8000", 200), ("[::1]", 200), ("[::2]:8000", 421)])
async def test_ipv6_loopback_host_is_in_the_default_list(
    server: RunningServer, http: httpx2.AsyncClient, host: str, status: int
) -> None:
    response = await initialize(http, server.mcp_url, Host=host)
    assert response.status_code == status, response.text


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/livez"])
async def test_only_mcp_is_guarded(edge: RunningServer, http: httpx2.AsyncClient, path: str) -> None:
    # Platform probes (Azure Container Apps sends the replica's own address as Host) must get through whatever Host
    # or Origin they send; the guard stands in front of /mcp only.
    response = await http.get(edge.url + path, headers={"Host": "10.0.0.7:8000", "Origin": "https://elsewhere.example"})
    assert response.status_code == 200, response.text
