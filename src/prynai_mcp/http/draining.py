"""While this replica drains (`prynai_mcp.drain`), /mcp takes no new JSON-RPC request.

A POST that carries a request gets 503 with `Retry-After`, `Connection: close` and a JSON-RPC error body: nothing was
done, so the client (or a balancer) may send it again, and another replica will take it. What finishes work already
running here still passes: the client's answers to this replica's server->client requests (sampling, elicitation)
and notifications (a cancellation, say). GET and DELETE pass too: a GET stream on a draining replica ends at once
with a retry hint (the SDK client reconnects after a clean end, but gives up after two refused attempts), and DELETE
is the client's goodbye. Outside a drain this middleware reads nothing.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from prynai_mcp.drain import Drain
from prynai_mcp.http.bodies import read_body, replay
from prynai_mcp.http.errors import jsonrpc_error_body

SHUTTING_DOWN = -32055  # implementation-defined server error: this replica is shutting down, nothing was done
RETRY_AFTER_SECONDS = 1


class RefuseNewRequests:
    """ASGI middleware for `path`: while `drain` is on, 503 for every POST that carries a JSON-RPC request."""

    def __init__(self, app: ASGIApp, *, path: str, drain: Drain, max_body_bytes: int) -> None:
        self.app = app
        self.path = path
        self.drain = drain
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            not self.drain.draining
            or scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"].rstrip("/") != self.path
        ):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive, self.max_body_bytes)
        if body is None or _carries_request(body):
            await _refusal()(scope, receive, send)
            return
        await self.app(scope, replay(body, receive), send)


def _refusal() -> Response:
    body = jsonrpc_error_body(
        "Server shutting down: this replica takes no new requests; send it again (another replica will answer)",
        SHUTTING_DOWN,
        {"reason": "draining", "retryAfterSeconds": RETRY_AFTER_SECONDS},
    )
    # Connection: close, so a client or proxy holding a keep-alive connection here opens a new one (elsewhere).
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS), "Connection": "close"}
    return Response(body, status_code=503, media_type="application/json", headers=headers)


def _carries_request(body: bytes) -> bool:
    """Whether the body holds a JSON-RPC request (a batch counts when any of its members is one). A body that does
    not parse is left to the SDK, which answers it 400."""
    try:
        parsed: Any = json.loads(body)
    except (ValueError, RecursionError):  # nested too deep for Python is no more a request than malformed JSON
        return False
    members = parsed if isinstance(parsed, list) else [parsed]
    return any(isinstance(member, dict) and "method" in member and "id" in member for member in members)
