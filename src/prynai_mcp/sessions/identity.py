"""Which session and which principal a request belongs to, read from the request itself."""

from __future__ import annotations

import re
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, authorization_context
from mcp.server.context import ServerRequestContext
from starlette.types import Scope

SESSION_HEADER = "mcp-session-id"
SESSION_SCOPE_KEY = "prynai.session_id"
"""Where the manager leaves a new session's id in the ASGI scope, for the opening request's handlers."""
PRINCIPAL_SCOPE_KEY = "prynai.principal"
"""Where the manager leaves the opening request's principal key (`principal_key`), for the session's record."""
RECORDED_SCOPE_KEY = "prynai.session_recorded"
"""Set in the opening request's scope once its session's record is stored: only then does the session exist."""

# The server's own session ids: `uuid4().hex`. Anything else is refused before it reaches a store key.
_SESSION_ID = re.compile(r"[0-9a-f]{32}")


def is_session_id(value: str) -> bool:
    """Whether `value` has the form of a session id this server issues."""
    return _SESSION_ID.fullmatch(value) is not None


def session_id_of(ctx: ServerRequestContext[Any, Any]) -> str | None:
    """The session-based session a request belongs to (its `Mcp-Session-Id`), or None (2026-07-28, stateless).

    Only an id of the server's own form is returned: whatever else a client puts in the header (the 2026-07-28 wire
    does not look at it) is no session, and never reaches a log line, a span or a store key from here."""
    request = ctx.request
    headers = getattr(request, "headers", None)
    if headers is None:
        return None
    value = headers.get(SESSION_HEADER)
    if value is None:  # the opening request: the manager put the new session's id in the scope
        value = getattr(request, "scope", {}).get(SESSION_SCOPE_KEY)
    return value if isinstance(value, str) and is_session_id(value) else None


def loggable_session_id(value: str | None) -> str | None:
    """What a log line may say of a presented session id: the id itself when it has the server's form, else
    `invalid:` and at most its first 64 characters (a client must not write megabytes into the log)."""
    if value is None or is_session_id(value):
        return value
    return f"invalid:{value[:64]}" + ("…" if len(value) > 64 else "")


def principal_key(scope: Scope) -> str:
    """Who a request counts against, for the per-principal bounds: the token's tenant and object id (an app's
    service principal has one too; else its app id, else the subject) with auth on, else the client address.

    The client address is the peer's, or the one a trusted proxy named (`PRYNAI_TRUSTED_PROXIES`: uvicorn rewrites
    `scope["client"]` only for those), so clients behind a balancer are not all one principal.
    """
    user = scope.get("user")
    if isinstance(user, AuthenticatedUser):
        claims = user.access_token.claims or {}
        tenant = claims.get("tid") or claims.get("iss") or "-"
        who = claims.get("oid") or user.access_token.client_id or user.access_token.subject or "-"
        return f"entra:{tenant}:{who}"
    client = scope.get("client")
    return f"ip:{client[0]}" if client else "ip:unknown"


def principal_of(scope: Scope) -> dict[str, Any] | None:
    """The authenticated principal of a request, as stored with the session (None without auth)."""
    user = scope.get("user")
    return dict(authorization_context(user)) if isinstance(user, AuthenticatedUser) else None
