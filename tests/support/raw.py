"""Speak the session-based wire by hand, for tests that need control a client library hides (breaking a stream,
choosing Last-Event-ID, reusing request ids)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx2

PROTOCOL = "2025-11-25"
ACCEPT = "application/json, text/event-stream"


@dataclass
class SseEvent:
    id: str | None
    data: dict[str, Any] | None
    retry: int | None = None  # the reconnect delay the event carries, if any


async def sse_events(response: httpx2.Response) -> AsyncIterator[SseEvent]:
    """The events of an SSE response as they arrive (comments, and retry hints outside an event, skipped)."""
    event_id: str | None = None
    retry: int | None = None
    data: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            text = "\n".join(data).strip()
            if text or event_id:  # a priming event has an id and no data
                yield SseEvent(event_id, json.loads(text) if text else None, retry)
            event_id, retry, data = None, None, []
        elif line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("retry:"):
            retry = int(line[6:].strip())
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def initialize_body(request_id: int | str = 0) -> dict[str, Any]:
    """A session-based `initialize` request."""
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
    }


class RawSession:
    """One session-based MCP session over plain HTTP; `url()` picks the replica for each request."""

    def __init__(self, http: httpx2.AsyncClient, urls: list[str], label: str = "p") -> None:
        self.label = label  # goes into progress tokens, to tell sessions' events apart
        self.http = http
        self.urls = urls
        self.turn = 0
        self.session_id: str | None = None

    def url(self) -> str:
        url = self.urls[self.turn % len(self.urls)]
        self.turn += 1
        return url

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {"Accept": ACCEPT, "Content-Type": "application/json", "Mcp-Protocol-Version": PROTOCOL}
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        headers.update(extra)
        return headers

    async def open(self) -> str:
        async with self.http.stream("POST", self.url(), json=initialize_body(0), headers=self.headers()) as response:
            assert response.status_code == 200, await response.aread()
            self.session_id = response.headers["mcp-session-id"]
            async for event in sse_events(response):
                if event.data and event.data.get("id") == 0:
                    break
        done = await self.http.post(
            self.url(), json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=self.headers()
        )
        assert done.status_code == 202, done.text
        return self.session_id

    def call(self, request_id: int | str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments, "_meta": {"progressToken": f"{self.label}-{request_id}"}},
        }
