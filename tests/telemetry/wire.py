"""Both MCP wires spoken by hand over plain HTTP, so a test chooses request ids, `_meta` and HTTP headers exactly."""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx2

LEGACY = "2025-11-25"
MODERN = "2026-07-28"
ACCEPT = "application/json, text/event-stream"


def traceparent() -> tuple[str, str, str]:
    """A fresh W3C `traceparent` (sampled), with its trace id and span id."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def answer(response: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC answer in a JSON body or in the last `data:` line of an SSE body."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        lines = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        messages = [json.loads(line) for line in lines if line]
        found: dict[str, Any] = next(m for m in reversed(messages) if "result" in m or "error" in m)
        return found
    parsed: dict[str, Any] = response.json()
    return parsed


class LegacySession:
    """A session-based (2025-11-25) session: `initialize`, `notifications/initialized`, calls, `DELETE`."""

    def __init__(self, http: httpx2.Client, url: str) -> None:
        self.http = http
        self.url = url
        self.session_id = ""

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {"Accept": ACCEPT, "Content-Type": "application/json", "Mcp-Protocol-Version": LEGACY}
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        return {**headers, **extra}

    def open(self, request_id: str) -> str:
        params = {
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": "telemetry-test", "version": "1"},
        }
        body = {"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": params}
        response = self.http.post(self.url, json=body, headers=self.headers())
        assert response.status_code == 200, response.text
        self.session_id = response.headers["mcp-session-id"]
        done = self.http.post(
            self.url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=self.headers()
        )
        assert done.status_code == 202, done.text
        return self.session_id

    def request(
        self,
        request_id: str,
        method: str,
        params: dict[str, Any],
        *,
        meta: dict[str, Any] | None = None,
        **headers: str,
    ) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {**params, "_meta": meta or {}}}
        response = self.http.post(self.url, json=body, headers=self.headers(**headers))
        assert response.status_code == 200, response.text
        return answer(response)

    def close(self) -> None:
        assert self.http.delete(self.url, headers=self.headers()).status_code == 200


def modern_request(
    http: httpx2.Client,
    url: str,
    request_id: str,
    method: str,
    params: dict[str, Any],
    *,
    meta: dict[str, Any] | None = None,
    status: int = 200,
    **headers: str,
) -> dict[str, Any]:
    """One 2026-07-28 request: the `_meta` envelope in the body, `Mcp-Method`/`Mcp-Name` headers to match; the
    answer must come with HTTP `status`."""
    envelope = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "telemetry-test", "version": "1"},
        **(meta or {}),
    }
    body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {**params, "_meta": envelope}}
    sent = {"Accept": ACCEPT, "Content-Type": "application/json", "Mcp-Protocol-Version": MODERN, "Mcp-Method": method}
    if "name" in params:
        sent["Mcp-Name"] = str(params["name"])
    response = http.post(url, json=body, headers={**sent, **headers})
    assert response.status_code == status, response.text
    return answer(response)
