"""A protected PrynAI server (HTTPS, Entra via the stand-in) and clients for it, shared by the HTTP-level tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx2
from entra_standin import RunningStandIn
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.support.clients import MODES
from tests.support.server import RunningServer, running_server

LEGACY_VERSION = "2025-11-25"
STREAM_ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def protected_env(standin: RunningStandIn, **overrides: str) -> dict[str, str]:
    """What the tests' server runs with: roles and scopes required, a write role for bump_counter, TLS on."""
    return standin.server_env(
        ENTRA_REQUIRED_SCOPES="Mcp.Invoke",
        ENTRA_REQUIRED_APP_ROLES="Mcp.Invoke",
        PRYNAI_TOOL_ROLES="bump_counter=Mcp.Write",
        PRYNAI_JWKS_REFETCH_SECONDS="1",  # so rotation tests wait one second, not a minute
        SSL_CERTFILE=str(standin.tls.cert),
        SSL_KEYFILE=str(standin.tls.key),
        **overrides,
    )


@contextlib.contextmanager
def protected_server(standin: RunningStandIn, **overrides: str) -> Iterator[RunningServer]:
    with running_server(protected_env(standin, **overrides), scheme="https", verify=standin.tls.ssl_context()) as s:
        yield s


def http(standin: RunningStandIn, token: str | None = None, **options: Any) -> httpx2.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx2.AsyncClient(verify=standin.tls.ssl_context(), trust_env=False, headers=headers, timeout=30, **options)


@contextlib.asynccontextmanager
async def mcp_client(server: RunningServer, standin: RunningStandIn, token: str, wire: str) -> AsyncIterator[Client]:
    """The SDK client with a bearer token (Client has no headers=: the token rides on the httpx2 client)."""
    async with (
        http(standin, token) as client,
        Client(streamable_http_client(server.mcp_url, http_client=client), mode=MODES[wire]) as mcp,
    ):
        yield mcp


def initialize_body(request_id: int = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {"protocolVersion": LEGACY_VERSION, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }


def www_authenticate(headers: Mapping[str, str]) -> str:
    return headers.get("www-authenticate", "")
