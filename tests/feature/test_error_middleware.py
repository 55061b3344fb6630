"""The two error middlewares of the HTTP edge, driven as ASGI apps with an inner app that misbehaves on purpose:
answers and failures the running server only produces in rare moments (a plain-text 5xx from deep inside, a store
outage after the response started), which an end-to-end test cannot provoke on demand."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError
from starlette.responses import PlainTextResponse
from starlette.types import Message, Receive, Scope, Send

from prynai_mcp.http.errors import JsonErrorBodies, UnavailableAs503
from prynai_mcp.redis_store import StoreUnavailable
from tests.support.documented import INTERNAL_ERROR, INVALID_REQUEST, STORE_UNAVAILABLE

SCOPE: Scope = {"type": "http", "method": "POST", "path": "/mcp", "headers": [], "query_string": b""}


async def receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def call(app: Any) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(dict(SCOPE), receive, send)
    return sent


def plain(status: int) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("went wrong", status_code=status)(scope, receive, send)

    return app


@pytest.mark.parametrize(
    ("status", "code"), [(400, INVALID_REQUEST), (499, INVALID_REQUEST), (500, INTERNAL_ERROR), (503, INTERNAL_ERROR)]
)
async def test_a_plain_text_error_becomes_a_json_rpc_body(status: int, code: int) -> None:
    sent = await call(JsonErrorBodies(plain(status), path="/mcp"))
    start, body = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    assert start["status"] == status
    assert dict(start["headers"])[b"content-type"] == b"application/json"
    assert json.loads(body) == {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": "went wrong"}}


async def test_a_store_outage_before_the_answer_is_a_503_with_retry_after() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise StoreUnavailable("ConnectionError: refused")

    sent = await call(UnavailableAs503(app))
    assert sent[0]["status"] == 503
    assert dict(sent[0]["headers"])[b"retry-after"] == b"2"
    error = json.loads(sent[1]["body"])["error"]
    assert error["code"] == STORE_UNAVAILABLE and "ConnectionError" not in sent[1]["body"].decode()


async def test_a_store_outage_after_the_answer_started_ends_the_stream() -> None:
    """Once a response has started, a second one cannot be sent: the failure propagates (the stream ends)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise StoreUnavailable("ConnectionError: refused")

    sent: list[Message] = []
    with pytest.raises(StoreUnavailable):
        await UnavailableAs503(app)(dict(SCOPE), receive, lambda m: _append(sent, m))
    assert [m["type"] for m in sent] == ["http.response.start"]


async def test_other_protocol_errors_are_not_turned_into_503() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise MCPError(-32603, "something else")

    sent: list[Message] = []
    with pytest.raises(MCPError):
        await UnavailableAs503(app)(dict(SCOPE), receive, lambda m: _append(sent, m))
    assert sent == []


async def _append(sent: list[Message], message: Message) -> None:
    sent.append(message)


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/unknown"])
async def test_other_paths_keep_their_own_error_bodies(path: str) -> None:
    """Only /mcp speaks JSON-RPC: a plain-text error elsewhere (a 404 for an unknown path) stays as it is."""
    sent: list[Message] = []
    app = JsonErrorBodies(plain(404), path="/mcp")
    await app({**SCOPE, "path": path}, receive, lambda m: _append(sent, m))
    assert sent[0]["status"] == 404
    assert dict(sent[0]["headers"])[b"content-type"].startswith(b"text/plain")
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"went wrong"
