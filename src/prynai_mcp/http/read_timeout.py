"""A request body must arrive in time: a client trickling it is answered 408, not waited for.

Guarantee: the app waits at most `seconds` in all for the body of one request (time spent waiting in `receive`
until the last body chunk; time the app itself takes does not count, so a busy server never blames its client).
Past that, when nothing of the response has been sent, the client gets 408 with a JSON-RPC error body and
`Connection: close`, and the app sees the client gone (`http.disconnect`), so a partial body is never served as a
request; when the response has started, the app sees the client gone and the response ends with it. The head of
the request (headers) is bounded by the HTTP protocol itself (`http.protocol`).
"""

from __future__ import annotations

import logging

import anyio
from mcp_types import INVALID_REQUEST
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prynai_mcp.http.errors import jsonrpc_error_body

logger = logging.getLogger(__name__)


class BodyReadTimeout:
    """ASGI middleware: at most `seconds` of waiting for each request's body."""

    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        waited = 0.0
        body_done = timed_out = started = False

        async def timed_receive() -> Message:
            nonlocal waited, body_done, timed_out
            if timed_out:
                return {"type": "http.disconnect"}
            if body_done:
                return await receive()  # what follows the body (the disconnect) may take as long as it takes
            began = anyio.current_time()
            with anyio.move_on_after(self.seconds - waited):
                message = await receive()
                waited += anyio.current_time() - began
                body_done = message["type"] != "http.request" or not message.get("more_body", False)
                return message
            timed_out = True
            return {"type": "http.disconnect"}

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if timed_out and not started:
                return  # the client gets the 408, not what the app makes of a body that never came
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, timed_receive, guarded_send)
        if not timed_out:
            return
        message = (
            f"Request Timeout: the request body did not arrive within {self.seconds:g} s "
            "(PRYNAI_REQUEST_READ_TIMEOUT_SECONDS)"
        )
        client = scope.get("client")
        logger.warning(message, extra={"event": "body_timeout", "client": f"{client[0]}" if client else None})
        if not started:
            body = jsonrpc_error_body(message, INVALID_REQUEST)
            headers = {"Connection": "close"}  # the rest of the body may still come: this connection is done
            await Response(body, status_code=408, media_type="application/json", headers=headers)(scope, receive, send)
