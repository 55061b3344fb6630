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
from urllib.parse import urlsplit

import anyio
import anyio.abc
from mcp.server.subscriptions import InMemorySubscriptionBus, SubscriptionBus

from prynai_mcp.changes import ChangeFeed
from prynai_mcp.config import Settings
from prynai_mcp.legacy import LegacySessions
from prynai_mcp.redis_store import RedisStore
from prynai_mcp.redis_store.entra import auth_description, managed_identity_credentials
from prynai_mcp.sessions.events import EventLog, MemoryEventLog
from prynai_mcp.sessions.inbox import LocalInbox, ReplicaInbox
from prynai_mcp.sessions.ownership import LocalOwnership, Ownership, RedisOwnership
from prynai_mcp.sessions.redis_stores import RedisEventLog, RedisInbox, RedisSessionRegistry
from prynai_mcp.sessions.registry import MemorySessionRegistry, SessionRegistry
from prynai_mcp.sessions.slots import SessionSlots
from prynai_mcp.state import RedisBackend, StateBackend, create_backend
from prynai_mcp.state.journal import ChangeJournal, MemoryChangeJournal
from prynai_mcp.state.redis_bus import RedisSubscriptionBus
from prynai_mcp.state.redis_journal import RedisChangeJournal

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
    changes: ChangeFeed  # what the MCP surface publishes changes to
    ownership: Ownership
    slots: SessionSlots  # sessions per principal, GET streams per session
    # Names this process among the replicas: in server->client request ids and heartbeats.
    replica_id: str
    started_at: float = field(default_factory=time.monotonic)

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        backend = create_backend(
            settings.redis_url,
            settings.prynai_redis_prefix,
            session_ttl_seconds=settings.prynai_session_idle_seconds,
            store=_entra_store(settings) if settings.redis_url and settings.prynai_redis_auth == "entra" else None,
            max_connections=settings.prynai_redis_max_connections,
        )
        # With Redis, changes fan out to every replica's listeners; the bus borrows the backend's connection pool.
        bus: SubscriptionBus = (
            RedisSubscriptionBus(backend.store, backend.keys)
            if isinstance(backend, RedisBackend)
            else InMemorySubscriptionBus()
        )
        replica_id = secrets.token_hex(4)
        registry: SessionRegistry
        events: EventLog
        inbox: ReplicaInbox
        ownership: Ownership
        journal: ChangeJournal
        if isinstance(backend, RedisBackend):
            registry = RedisSessionRegistry(backend.store, backend.keys, settings.prynai_session_idle_seconds)
            redis_events = RedisEventLog(
                backend.store,
                backend.keys,
                max_events=settings.prynai_event_log_max_events,
                retention_seconds=settings.prynai_event_log_seconds,
                max_stream_bytes=settings.prynai_event_log_max_stream_bytes,
                max_session_bytes=settings.prynai_event_log_max_session_bytes,
            )
            events = redis_events
            inbox = RedisInbox(backend.store, backend.keys, replica_id)
            ownership = RedisOwnership(
                backend.store,
                backend.keys,
                replica_id,
                lease_seconds=settings.prynai_replica_lease_seconds,
                retention_seconds=settings.prynai_event_log_seconds,
            )
            journal = RedisChangeJournal(
                backend.store,
                backend.keys,
                replica_id,
                events=redis_events,
                retention_seconds=settings.prynai_event_log_seconds,
            )
        else:
            registry = MemorySessionRegistry(settings.prynai_session_idle_seconds, settings.prynai_max_sessions)
            memory_events = MemoryEventLog(
                max_events=settings.prynai_event_log_max_events,
                retention_seconds=settings.prynai_event_log_seconds,
                max_stream_bytes=settings.prynai_event_log_max_stream_bytes,
                max_session_bytes=settings.prynai_event_log_max_session_bytes,
            )
            events = memory_events
            inbox = LocalInbox()
            ownership = LocalOwnership()
            journal = MemoryChangeJournal(backend, events)
        redis = backend if isinstance(backend, RedisBackend) else None
        slots = SessionSlots.build(
            redis.store if redis else None,
            redis.keys if redis else None,
            sessions_per_principal=settings.prynai_max_sessions_per_principal,
            session_lease_seconds=settings.prynai_session_idle_seconds,
            streams_per_session=settings.prynai_max_streams_per_session,
            # A stream renews its slot every keep-alive period; one a killed replica held lapses a few periods later.
            stream_lease_seconds=3 * settings.prynai_sse_keepalive_seconds + settings.prynai_replica_lease_seconds,
        )
        sessions = LegacySessions(backend, max_subscriptions=settings.prynai_max_subscriptions_per_session)
        return cls(
            settings=settings,
            backend=backend,
            bus=bus,
            registry=registry,
            events=events,
            inbox=inbox,
            sessions=sessions,
            changes=ChangeFeed(bus, journal),
            ownership=ownership,
            slots=slots,
            replica_id=replica_id,
        )

    async def sweep(
        self, period_seconds: float, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """The in-memory backend's housekeeping, every `period_seconds`: expired sessions leave the registry and
        take what they recorded (log level, subscriptions, their slots) with them. Redis expires keys by itself."""
        task_status.started()
        if not isinstance(self.registry, MemorySessionRegistry):
            return
        while True:
            await anyio.sleep(period_seconds)
            for session_id in self.registry.sweep():
                await self.backend.forget_session(session_id)
                await self.events.delete_session(session_id)
            self.slots.sweep()
            if isinstance(self.events, MemoryEventLog):
                self.events.sweep()  # streams past their retention, also of sessions still open

    def uptime_seconds(self) -> float:
        return round(time.monotonic() - self.started_at, 3)


def _entra_store(settings: Settings) -> RedisStore:
    """The Redis client for Entra ID authentication: the managed identity's tokens instead of a password."""
    if urlsplit(settings.redis_url).password:
        raise ValueError("REDIS_URL carries a password, but PRYNAI_REDIS_AUTH=entra signs in with a token: drop one")
    return RedisStore(
        settings.redis_url,
        credential_provider=managed_identity_credentials(settings.azure_client_id),
        max_connections=settings.prynai_redis_max_connections,
        auth=auth_description("entra", settings.azure_client_id),
    )
