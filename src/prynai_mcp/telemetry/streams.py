"""`SseStreams`: ASGI middleware counting the SSE streams open on this replica (loaded only when telemetry is on).

Every SSE response, whichever wire and handler produced it (a GET stream, a POST answered as a stream, a resumption,
`subscriptions/listen`), starts with `Content-Type: text/event-stream`: counting at the edge sees them all without a
hook in each. A stream is counted from its response head to the end of its ASGI call, which is when the client or
the server closed it.
"""

from __future__ import annotations

from opentelemetry.metrics import UpDownCounter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SSE = b"text/event-stream"


class SseStreams:
    def __init__(self, app: ASGIApp, *, streams: UpDownCounter) -> None:
        self.app = app
        self.streams = streams

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        attributes = {"http.request.method": scope["method"]}
        opened = False

        async def watch(message: Message) -> None:
            nonlocal opened
            if message["type"] == "http.response.start" and _is_sse(message.get("headers", [])):
                opened = True
                self.streams.add(1, attributes)
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if opened:
                self.streams.add(-1, attributes)


def _is_sse(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name.lower() == b"content-type" and value.startswith(_SSE) for name, value in headers)
