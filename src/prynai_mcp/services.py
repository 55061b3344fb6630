"""What the MCP surface may use: settings, the state backend, the change bus, and the legacy-session helpers.

Built once per app by `prynai_mcp.app.create_app`; the surface receives it and touches nothing else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from importlib.metadata import version

from mcp.server.subscriptions import InMemorySubscriptionBus, SubscriptionBus

from prynai_mcp.config import Settings
from prynai_mcp.legacy import LegacySessions
from prynai_mcp.state import StateBackend, create_backend

SERVER_NAME = "prynai-mcp"
VERSION = version("prynai-mcp")


@dataclass
class Services:
    settings: Settings
    backend: StateBackend
    bus: SubscriptionBus
    sessions: LegacySessions
    started_at: float = field(default_factory=time.monotonic)

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        backend = create_backend(settings.redis_url, settings.prynai_redis_prefix)
        bus = InMemorySubscriptionBus()
        return cls(settings=settings, backend=backend, bus=bus, sessions=LegacySessions(backend, bus))

    def uptime_seconds(self) -> float:
        return round(time.monotonic() - self.started_at, 3)
