"""The last word on /mcp: a failure no other layer handled is answered as JSON-RPC, never as uvicorn's plain-text 500.

Guarantees, for every request to `path` on either wire:
- nothing of the response sent yet: HTTP 500, `application/json`,
  `{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"Internal error","data":{"requestId":"<16 hex>"}}}`,
  and the connection stays usable;
- the response already started (a stream): it is ended where it stands (a chunked or SSE body gets its proper end),
  since a second status cannot be sent;
- either way one `internal_error` log line at level error carries the same `request_id` and the traceback, which
  never reach the client (an operator finds the line from the id the client reports).

A client that left (`ClientDisconnect`) is not a failure of the server: it gets no answer and no error line.
"""

from __future__ import annotations

import contextlib
import logging
import uuid

from mcp_types import INTERNAL_ERROR
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prynai_mcp.http.errors import jsonrpc_error_body

logger = logging.getLogger(__name__)


class CatchAll:
    """ASGI middleware for `path`: an exception escaping the app becomes a JSON-RPC 500 with a request id."""

    def __init__(self, app: ASGIApp, *, path: str) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        started = finished = False

        async def watch(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except ClientDisconnect:
            logger.debug("client left before its request was read")
        except Exception:
            request_id = uuid.uuid4().hex[:16]
            logger.exception(
                "unhandled error answering %s %s",
                scope["method"],
                scope["path"],
                extra={"event": "internal_error", "request_id": request_id, "response_started": started},
            )
            if not started:
                body = jsonrpc_error_body("Internal error", INTERNAL_ERROR, {"requestId": request_id})
                await Response(body, status_code=500, media_type="application/json")(scope, receive, send)
            elif not finished:
                # The body's end: a chunked (SSE) response ends cleanly; one with a Content-Length the server can no
                # longer honour raises here, and uvicorn closes that connection.
                with contextlib.suppress(Exception):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
