"""What the session-based wire (2025-11-25 and older) needs beyond the SDK's `MCPServer`.

- `resources/subscribe` and `resources/unsubscribe` (MCPServer registers neither) recorded in the state backend, for
  URIs a resource or template of the surface serves, at most `PRYNAI_MAX_SUBSCRIPTIONS_PER_SESSION` per session;
- `logging/setLevel`, remembered per session and honoured by `client_logger`;
- nothing else: resource changes reach subscribed sessions' GET streams through the change feed
  (`prynai_mcp.changes`), which reads the subscriptions recorded here.

Entry: `LegacySessions.install`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError
from mcp.shared.uri_template import UriTemplate
from mcp_types import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    EmptyResult,
    LoggingLevel,
    SetLevelRequestParams,
    SubscribeRequestParams,
    UnsubscribeRequestParams,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from prynai_mcp import _sdk
from prynai_mcp.codes import LIMIT_EXCEEDED
from prynai_mcp.sessions.identity import session_id_of
from prynai_mcp.state import StateBackend

logger = logging.getLogger(__name__)

_LEVELS: tuple[LoggingLevel, ...] = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
_RANK: dict[str, int] = {level: rank for rank, level in enumerate(_LEVELS)}

ClientLog = Callable[[LoggingLevel, str], Awaitable[None]]


class LegacySessions:
    """Per-session choices of legacy clients: their subscriptions and log level."""

    def __init__(self, backend: StateBackend, *, max_subscriptions: int | None = None) -> None:
        self._backend = backend
        self._max_subscriptions = max_subscriptions
        self._mcp: MCPServer[Any] | None = None

    def install(self, mcp: MCPServer[Any]) -> None:
        """Register the legacy-only request handlers on `mcp`."""
        self._mcp = mcp
        server = _sdk.lowlevel(mcp)
        server.add_request_handler("resources/subscribe", SubscribeRequestParams, self._subscribe)
        server.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, self._unsubscribe)
        server.add_request_handler("logging/setLevel", SetLevelRequestParams, self._set_level)

    async def client_logger(self, ctx: Context[Any, Any]) -> ClientLog:
        """A sender of log lines to the client for the rest of this call, honouring the session's
        `logging/setLevel` on the legacy wire (on the modern wire the SDK applies the level the request carried).

        The level is read here, once: a call that logs as it goes is not stopped by a store outage after it began
        (its lines still reach the client live). An outage now raises, before any work is done.
        """
        least = 0
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            session_id = session_id_of(ctx.request_context)
            chosen = await self._backend.get_log_level(session_id) if session_id else None
            least = _RANK.get(chosen, 0) if chosen is not None else 0

        async def log(level: LoggingLevel, message: str) -> None:
            if _RANK[level] >= least:
                await ctx.log(level, message)

        return log

    async def _subscribe(self, ctx: ServerRequestContext[Any, Any], params: SubscribeRequestParams) -> EmptyResult:
        session_id = self._require_session(ctx)
        uri = str(params.uri)
        if not await self._served(uri):
            raise MCPError(INVALID_PARAMS, f"No resource or resource template of this server serves {uri[:256]!r}")
        if not await self._backend.subscribe(session_id, uri, self._max_subscriptions):
            raise MCPError(
                LIMIT_EXCEEDED,
                f"This session holds {self._max_subscriptions} subscriptions, the most it may: unsubscribe first",
                {"limit": "PRYNAI_MAX_SUBSCRIPTIONS_PER_SESSION", "max": self._max_subscriptions},
            )
        return EmptyResult()

    async def _served(self, uri: str) -> bool:
        """Whether a resource or a template of the surface answers `uri` (so nothing else can be subscribed to)."""
        if self._mcp is None:
            return True
        if any(str(resource.uri) == uri for resource in await self._mcp.list_resources()):
            return True
        for template in await self._mcp.list_resource_templates():
            if UriTemplate.parse(template.uri_template).match(uri) is not None:
                return True
        return False

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
