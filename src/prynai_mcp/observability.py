"""Structured logs: one JSON object per line on stdout, for the HTTP exchange and for each MCP message.

`configure_logging` is called once at start-up; `AccessLog` (ASGI) records every HTTP request and `mcp_log` (SDK
server middleware) records every JSON-RPC request with its method, tool, session, caller, outcome and duration.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import warnings
from datetime import UTC, datetime
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPDeprecationWarning
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prynai_mcp import telemetry
from prynai_mcp.drain import OPEN_ENDED
from prynai_mcp.sessions.identity import SESSION_HEADER, loggable_session_id, session_id_of

_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}
access_logger = logging.getLogger("prynai_mcp.access")
mcp_logger = logging.getLogger("prynai_mcp.mcp")


class JsonFormatter(logging.Formatter):
    """A log record as one JSON object: time, level, logger, message and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Send every logger (ours, the SDK's, uvicorn's) through one JSON handler on stdout."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The SDK logs each session's life at INFO; at our INFO that is noise next to the access and mcp lines.
    logging.getLogger("mcp").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # AccessLog replaces uvicorn's plain-text access lines.
    logging.getLogger("uvicorn.access").disabled = True
    # Logging and sampling are deprecated on the 2026-07-28 wire but are what legacy clients use: one warning per
    # call would flood the log with something operators cannot act on.
    warnings.filterwarnings("ignore", category=MCPDeprecationWarning)


class AccessLog:
    """ASGI middleware: one `http` line per request with status, duration and session."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        # Validated or cut short: the header is the client's, and it is logged even on a 401.
        session = loggable_session_id(Headers(scope=scope).get(SESSION_HEADER))

        async def observe(message: Message) -> None:
            nonlocal status, session
            if message["type"] == "http.response.start":
                status = message["status"]
                issued = Headers(raw=message.get("headers", [])).get(SESSION_HEADER)
                session = session or loggable_session_id(issued)
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            access_logger.info(
                "http",
                extra={
                    "event": "http",
                    "http_method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "session": session,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )


def caller_client_id(ctx: ServerRequestContext[Any, Any]) -> str | None:
    """The client id (`azp`/`appid`) of the token that authenticated this request; None when auth is off."""
    # The HTTP request that carried this message holds the authenticated user; the SDK's context variable is the
    # fallback for transports that do not pass the request along (as in auth/tool_roles.py).
    request = ctx.request
    user = getattr(request, "scope", {}).get("user") if request is not None else None
    token = user.access_token if isinstance(user, AuthenticatedUser) else get_access_token()
    return token.client_id if token is not None else None


async def mcp_log(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """SDK server middleware: one `mcp` line per JSON-RPC request (notifications are not logged)."""
    if ctx.request_id is None:
        return await call_next(ctx)
    started = time.perf_counter()
    outcome = "error"
    try:
        result = await call_next(ctx)
        outcome = "ok"
        return result
    except asyncio.CancelledError:
        # The client went away or cancelled: not the server's failure. A listen ends no other way.
        outcome = "closed" if ctx.method in OPEN_ENDED else "cancelled"
        raise
    finally:
        tool = (ctx.params or {}).get("name") if ctx.method == "tools/call" else None
        mcp_logger.info(
            "mcp",
            extra={
                "event": "mcp",
                "method": ctx.method,
                "tool": tool,
                "session": session_id_of(ctx),
                "protocol_version": ctx.protocol_version,
                "client_id": caller_client_id(ctx),  # which agent called: the operator's first question
                "status": outcome,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                **telemetry.trace_fields(),  # trace_id, span_id with telemetry on: the line joins its trace
            },
        )
