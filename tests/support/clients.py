"""SDK clients for either wire."""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types
from mcp.client import Client, IncomingMessage

# "auto" is what the current SDK client does by default: it probes server/discover and speaks 2026-07-28.
MODES = {"legacy": "legacy", "modern": "auto"}


def client(url: str, wire: str, **options: Any) -> Client:
    """An SDK client that speaks `wire` ("legacy": initialize handshake; "modern": discover, then 2026-07-28)."""
    return Client(url, mode=MODES[wire], **options)


class ResourceUpdates:
    """A client `message_handler` that records `notifications/resources/updated` URIs in arrival order."""

    def __init__(self) -> None:
        self.uris: list[str] = []
        self.arrived = anyio.Event()  # set by the first update

    async def __call__(self, message: IncomingMessage) -> None:
        if isinstance(message, mcp_types.ResourceUpdatedNotification):
            self.uris.append(message.params.uri)
            self.arrived.set()
