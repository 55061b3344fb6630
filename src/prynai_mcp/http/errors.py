"""Every error /mcp answers carries a JSON-RPC error body, whoever produced it.

The SDK answers some refusals (wrong Content-Type, body too large, ...) with plain text. `JsonErrorBodies` rewrites
any plain-text 4xx/5xx from the wrapped app into `{"jsonrpc":"2.0","id":null,"error":{...}}`, keeping the status
and the message, so clients parse one shape.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_REQUEST
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def jsonrpc_error_body(message: str, code: int = INVALID_REQUEST, data: Any = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode()


def jsonrpc_error_response(
    status: int, message: str, code: int = INVALID_REQUEST, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        jsonrpc_error_body(message, code), status_code=status, media_type="application/json", headers=headers
    )


class JsonErrorBodies:
    """ASGI middleware for `path`: plain-text error responses become JSON-RPC error bodies."""

    def __init__(self, app: ASGIApp, *, path: str) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return

        start: Message | None = None
        chunks: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                content_type = Headers(raw=message.get("headers", [])).get("content-type", "")
                if message["status"] >= 400 and not content_type.startswith("application/json"):
                    start = message  # hold it until the body is complete
                    return
                await send(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            status = start["status"]
            text = b"".join(chunks).decode("utf-8", "replace").strip() or "Request refused"
            body = jsonrpc_error_body(text, INTERNAL_ERROR if status >= 500 else INVALID_REQUEST)
            headers = MutableHeaders(raw=list(start.get("headers", [])))
            headers["content-type"] = "application/json"
            headers["content-length"] = str(len(body))
            await send({"type": "http.response.start", "status": status, "headers": headers.raw})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewrite)


class UnavailableAs503:
    """ASGI middleware: a store outage that escapes the MCP layer (session lookup, event log) becomes 503 with
    `Retry-After` and a JSON-RPC error body, when no response has started yet; otherwise the stream just ends.

    Recognised by the `retry_after` attribute that `StoreUnavailable` carries, so the HTTP layer does not depend on
    which store is behind it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except MCPError as error:
            retry_after = getattr(error, "retry_after", None)
            if retry_after is None or started:
                raise
            report = getattr(error, "report", None)  # the internal detail goes to the log, under the client's id
            if callable(report):
                report()
            body = jsonrpc_error_body(error.error.message, error.error.code, error.error.data)
            response = Response(
                body, status_code=503, media_type="application/json", headers={"Retry-After": str(retry_after)}
            )
            await response(scope, receive, send)
