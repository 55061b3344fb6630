"""What the server is made of at run time: settings, shared state, the change bus, and the session stores.

Built once per app by `prynai_mcp.app.create_app`. The MCP surface gets this object and uses `backend`, `bus` and
`sessions`; the HTTP side uses `registry`, `events` and `inbox`. Which implementation each one has (in-memory for one
process, Redis for many replicas) is decided here and nowhere else.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from importlib.metadata import version

from mcp.server.subscriptions import InMemorySubscriptionBus, SubscriptionBus

from prynai_mcp.config import Settings
from prynai_mcp.legacy import LegacySessions
from prynai_mcp.sessions.events import EventLog, MemoryEventLog
from prynai_mcp.sessions.inbox import LocalInbox, ReplicaInbox
from prynai_mcp.sessions.registry import MemorySessionRegistry, SessionRegistry
from prynai_mcp.state import StateBackend, create_backend

SERVER_NAME = "prynai-mcp"
VERSION = version("prynai-mcp")


@dataclass
class Services:
    settings: Settings
    backend: StateBackend
    bus: SubscriptionBus
    registry: SessionRegistry
    events: EventLog
    inbox: ReplicaInbox
    sessions: LegacySessions
    # Names this process among the replicas: in server->client request ids and heartbeats.
    replica_id: str = field(default_factory=lambda: secrets.token_hex(4))
    started_at: float = field(default_factory=time.monotonic)

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        backend = create_backend(settings.redis_url, settings.prynai_redis_prefix)
        bus = InMemorySubscriptionBus()
        registry = MemorySessionRegistry(settings.prynai_session_idle_seconds)
        events = MemoryEventLog(
            max_events=settings.prynai_event_log_max_events, retention_seconds=settings.prynai_event_log_seconds
        )
        return cls(
            settings=settings,
            backend=backend,
            bus=bus,
            registry=registry,
            events=events,
            inbox=LocalInbox(),
            sessions=LegacySessions(backend, bus, events),
        )

    def uptime_seconds(self) -> float:
        return round(time.monotonic() - self.started_at, 3)
