"""Which session and which principal a request belongs to, read from the request itself."""

from __future__ import annotations

from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, authorization_context
from mcp.server.context import ServerRequestContext
from starlette.types import Scope

SESSION_HEADER = "mcp-session-id"
SESSION_SCOPE_KEY = "prynai.session_id"
"""Where the manager leaves a new session's id in the ASGI scope, for the opening request's handlers."""


def session_id_of(ctx: ServerRequestContext[Any, Any]) -> str | None:
    """The session-based session a request belongs to (its `Mcp-Session-Id`), or None (2026-07-28, stateless)."""
    request = ctx.request
    headers = getattr(request, "headers", None)
    if headers is None:
        return None
    value = headers.get(SESSION_HEADER)
    if value is None:  # the opening request: the manager put the new session's id in the scope
        value = getattr(request, "scope", {}).get(SESSION_SCOPE_KEY)
    return value if isinstance(value, str) else None


def principal_of(scope: Scope) -> dict[str, Any] | None:
    """The authenticated principal of a request, as stored with the session (None without auth)."""
    user = scope.get("user")
    return dict(authorization_context(user)) if isinstance(user, AuthenticatedUser) else None
