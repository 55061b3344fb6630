"""Write a session's registry record when its `initialize` succeeds, so every replica can serve it from then on.

Runs as SDK server middleware (it sees `initialize` and its result); the session id and the owner come from the
ASGI scope, where `RoamingSessionManager` put the id before handing the opening request to the transport. The record
is written before the response leaves, so the client's next request finds it on any replica.
"""

from __future__ import annotations

import time
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

from prynai_mcp.sessions.identity import PRINCIPAL_SCOPE_KEY, RECORDED_SCOPE_KEY, SESSION_SCOPE_KEY, principal_of
from prynai_mcp.sessions.registry import SessionRecord, SessionRegistry, restorable_params


class SessionRecorder:
    def __init__(self, registry: SessionRegistry) -> None:
        self._registry = registry

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method != "initialize" or not isinstance(result, dict):
            return result
        scope = getattr(ctx.request, "scope", None)
        session_id = scope.get(SESSION_SCOPE_KEY) if isinstance(scope, dict) else None
        if scope is None or not isinstance(session_id, str):
            return result  # not an HTTP session (stateless or in-process use): nothing to share
        await self._registry.create(
            SessionRecord(
                session_id=session_id,
                protocol_version=str(result["protocolVersion"]),
                client_params=restorable_params(dict(ctx.params or {})),
                owner=principal_of(scope),
                created_at=time.time(),
                principal=scope.get(PRINCIPAL_SCOPE_KEY),
            )
        )
        scope[RECORDED_SCOPE_KEY] = True
        return result
