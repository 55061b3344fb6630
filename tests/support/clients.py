"""SDK clients pinned to one wire, and recorders for what a client receives.

`client(target, wire)` is the real SDK `Client`; entering it fails unless the protocol it agreed is the one the wire
names. The SDK's default mode ("auto": `server/discover`, falling back to `initialize`) would otherwise turn a
2026-07-28 test into a session-based one without a word whenever discovery broke.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Self

import anyio
import httpx2
import mcp_types
from mcp.client import Client, IncomingMessage
from mcp.client.streamable_http import streamable_http_client

# The protocol each wire must agree on: the newest of its era (README: "both protocol wires").
PROTOCOLS = {"legacy": "2025-11-25", "modern": "2026-07-28"}
# "auto" is what the current SDK client does by default: it probes server/discover, then speaks 2026-07-28.
MODES = {"legacy": "legacy", "modern": "auto"}
COUNTER = "prynai://counter"


@dataclass
class WireClient(Client):
    """A `Client` that refuses to run on any protocol but its wire's."""

    wire: str = "modern"

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        agreed = self.protocol_version
        if agreed != PROTOCOLS[self.wire]:
            await self.__aexit__(None, None, None)
            raise AssertionError(f"the {self.wire} wire agreed on protocol {agreed}, not {PROTOCOLS[self.wire]}")
        return self


def client(target: Any, wire: str, **options: Any) -> WireClient:
    """An SDK client for `target` (a URL, or a `streamable_http_client(...)` transport) on `wire`
    ("legacy": `initialize` handshake, 2025-11-25; "modern": `server/discover`, then 2026-07-28)."""
    return WireClient(target, mode=MODES[wire], wire=wire, **options)


def legacy_client(url: str, **options: Any) -> WireClient:
    """A session-based client (2025-11-25), as VS Code and LangGraph's adapters speak it, on an HTTP client of its own
    whose 30 s timeout outlasts any replica failover the tests provoke."""
    http = httpx2.AsyncClient(trust_env=False, timeout=30)
    return client(streamable_http_client(url, http_client=http), "legacy", **options)


async def read_counter(mcp: Client) -> int:
    """`prynai://counter` as the client reads it."""
    contents = (await mcp.read_resource(COUNTER)).contents
    return int(contents[0].text)  # type: ignore[union-attr]


async def read_status(mcp: Client) -> dict[str, Any]:
    """`prynai://status`, decoded."""
    contents = (await mcp.read_resource("prynai://status")).contents
    status: dict[str, Any] = json.loads(contents[0].text)  # type: ignore[union-attr]
    return status


def text_of(result: mcp_types.CallToolResult) -> str:
    """The first text block of a tool result."""
    block = result.content[0]
    assert isinstance(block, mcp_types.TextContent), block
    return block.text


class ResourceUpdates:
    """A client `message_handler` that records `notifications/resources/updated` URIs in arrival order."""

    def __init__(self) -> None:
        self.uris: list[str] = []
        self.arrived = anyio.Event()  # set by the first update
        self._next = anyio.Event()  # set by the next update, then replaced

    async def __call__(self, message: IncomingMessage) -> None:
        if isinstance(message, mcp_types.ResourceUpdatedNotification):
            self.uris.append(message.params.uri)
            self.arrived.set()
            self._next.set()
            self._next = anyio.Event()

    async def wait_for(self, count: int, seconds: float = 10) -> list[str]:
        """Wait until `count` updates arrived (failing after `seconds`); the URIs so far."""
        with anyio.fail_after(seconds):
            while len(self.uris) < count:
                await self._next.wait()
        return list(self.uris)


class Recorder:
    """Collects progress and log notifications in arrival order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.events.append(("progress", (progress, total, message)))

    async def log(self, params: mcp_types.LoggingMessageNotificationParams) -> None:
        self.events.append(("log", (params.level, params.data)))
