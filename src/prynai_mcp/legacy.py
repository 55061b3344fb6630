"""What the session-based wire (2025-11-25 and older) needs beyond the SDK's `MCPServer`.

- `resources/subscribe` and `resources/unsubscribe` (MCPServer registers neither) recorded in the state backend;
- `logging/setLevel`, remembered per session and honoured by `client_log`;
- delivery of resource changes to subscribed sessions' GET streams, through the session event log, so it reaches
  the stream on whichever replica holds it.

One change feed serves both wires: a tool publishes `ResourceUpdated` with `ctx.notify_resource_updated`, and
`ChangeFeed` (the `SubscriptionBus` MCPServer is given) hands it to the real bus, whose listeners serve modern
`subscriptions/listen` streams on every replica, and appends it once to each legacy subscriber's GET stream, from
the replica that made the change. Entry: `LegacySessions.install`, `ChangeFeed`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.subscriptions import ResourceUpdated, ServerEvent, SubscriptionBus
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_REQUEST,
    EmptyResult,
    LoggingLevel,
    SetLevelRequestParams,
    SubscribeRequestParams,
    UnsubscribeRequestParams,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from prynai_mcp import _sdk
from prynai_mcp.sessions.events import GET_STREAM_KEY, EventLog
from prynai_mcp.sessions.identity import session_id_of
from prynai_mcp.state import StateBackend

logger = logging.getLogger(__name__)

_LEVELS: tuple[LoggingLevel, ...] = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
_RANK: dict[str, int] = {level: rank for rank, level in enumerate(_LEVELS)}


class LegacySessions:
    """Per-session choices of legacy clients and the local sessions that receive resource changes."""

    def __init__(self, backend: StateBackend, events: EventLog) -> None:
        self._backend = backend
        self._events = events

    def install(self, mcp: MCPServer[Any]) -> None:
        """Register the legacy-only request handlers on `mcp`."""
        server = _sdk.lowlevel(mcp)
        server.add_request_handler("resources/subscribe", SubscribeRequestParams, self._subscribe)
        server.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, self._unsubscribe)
        server.add_request_handler("logging/setLevel", SetLevelRequestParams, self._set_level)

    async def client_log(self, ctx: Context[Any, Any], level: LoggingLevel, message: str) -> None:
        """Send a log line to the client, honouring the session's `logging/setLevel` on the legacy wire.

        On the modern wire the SDK applies the level the request carried in `_meta`.
        """
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            session_id = session_id_of(ctx.request_context)
            chosen = await self._backend.get_log_level(session_id) if session_id else None
            if chosen is not None and _RANK[level] < _RANK.get(chosen, 0):
                return
        await ctx.log(level, message)

    async def deliver(self, uri: str) -> None:
        """Append `notifications/resources/updated` to the GET stream of every session subscribed to `uri`."""
        notification = {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": uri}}
        try:
            subscribers = await self._backend.subscribers(uri)
        except Exception:  # the change itself happened: a store outage must not report it as failed
            logger.warning("could not list the subscribers of %s; they miss this update", uri, exc_info=True)
            return
        for session_id in subscribers:
            try:
                await self._events.append(session_id, GET_STREAM_KEY, notification)
            except Exception:  # one session's failure must not stop delivery to the others
                logger.warning("could not notify session %s of %s", session_id, uri, exc_info=True)

    async def _subscribe(self, ctx: ServerRequestContext[Any, Any], params: SubscribeRequestParams) -> EmptyResult:
        session_id = self._require_session(ctx)
        await self._backend.subscribe(session_id, params.uri)
        return EmptyResult()

    async def _unsubscribe(self, ctx: ServerRequestContext[Any, Any], params: UnsubscribeRequestParams) -> EmptyResult:
        session_id = self._require_session(ctx)
        await self._backend.unsubscribe(session_id, params.uri)
        return EmptyResult()

    async def _set_level(self, ctx: ServerRequestContext[Any, Any], params: SetLevelRequestParams) -> EmptyResult:
        session_id = self._require_session(ctx)
        await self._backend.set_log_level(session_id, params.level)
        return EmptyResult()

    @staticmethod
    def _require_session(ctx: ServerRequestContext[Any, Any]) -> str:
        session_id = session_id_of(ctx)
        if session_id is None:
            raise MCPError(INVALID_REQUEST, "This method needs a session: send Mcp-Session-Id from initialize")
        return session_id


class ChangeFeed:
    """The `SubscriptionBus` given to MCPServer: each change reaches modern listeners and legacy subscribers once."""

    def __init__(self, bus: SubscriptionBus, legacy: LegacySessions) -> None:
        self._bus = bus
        self._legacy = legacy

    async def publish(self, event: ServerEvent) -> None:
        await self._bus.publish(event)
        if isinstance(event, ResourceUpdated):
            await self._legacy.deliver(event.uri)

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        return self._bus.subscribe(listener)
