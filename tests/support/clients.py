"""SDK clients for either wire."""

from __future__ import annotations

from typing import Any

from mcp.client import Client

# "auto" is what the current SDK client does by default: it probes server/discover and speaks 2026-07-28.
MODES = {"legacy": "legacy", "modern": "auto"}


def client(url: str, wire: str, **options: Any) -> Client:
    """An SDK client that speaks `wire` ("legacy": initialize handshake; "modern": discover, then 2026-07-28)."""
    return Client(url, mode=MODES[wire], **options)
