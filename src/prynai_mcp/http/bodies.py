"""Reading a request body ahead of the app that will handle it, and handing it on as if unread."""

from __future__ import annotations

from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive


async def read_body(receive: Receive, limit: int | None = None) -> bytes | None:
    """The whole body; None when it is larger than `limit` (the app refuses such a body as too large anyway).

    Raises `ClientDisconnect` when the client is gone before the end of its body (or was cut for sending it too
    slowly): part of a body is never handed on as if it were the request."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives `body` once, then whatever `receive` gives (the disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
