"""Slow clients are cut (README, Settings: PRYNAI_REQUEST_READ_TIMEOUT_SECONDS, PRYNAI_MAX_HEADER_BYTES): headers or a
body trickled past the timeout get 408 with a JSON-RPC error body and the connection closed; an oversized head gets
431; a connection that sends nothing is closed after the keep-alive period. Spoken over raw sockets, since an HTTP
client library sends a request whole."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.abc
import httpx2
import pytest

from tests.support.clients import client, read_counter
from tests.support.documented import INVALID_REQUEST
from tests.support.raw import RawSession
from tests.support.server import RunningServer, running_server

TIMEOUT = 2.0
KEEPALIVE = 3.0
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


@pytest.fixture(scope="module")
def impatient() -> Iterator[RunningServer]:
    env = {"PRYNAI_REQUEST_READ_TIMEOUT_SECONDS": str(TIMEOUT), "PRYNAI_HTTP_KEEPALIVE_SECONDS": str(KEEPALIVE)}
    with running_server(env) as running:
        yield running


def port_of(server: RunningServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def call(tool: str, arguments: dict[str, Any]) -> tuple[bytes, bytes]:
    """The head and body of a 2026-07-28 `tools/call` POST."""
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments, "_meta": MODERN_META},
        }
    ).encode()
    head = (
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Accept: application/json, text/event-stream\r\nMcp-Protocol-Version: 2026-07-28\r\n"
        f"Mcp-Method: tools/call\r\nMcp-Name: {tool}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head, body


async def until_closed(stream: anyio.abc.ByteStream, seconds: float) -> bytes:
    """Everything the server sends until it closes the connection; fails if it is still open after `seconds`."""
    received = b""
    with anyio.fail_after(seconds):
        while True:
            try:
                received += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return received


async def trickle(stream: anyio.abc.ByteStream, data: bytes, seconds: float) -> bytes:
    """Send `data` a byte every half second while reading what comes back; what came once the server closed."""
    return await send_while_reading(stream, [bytes([byte]) for byte in data], 0.5, seconds)


async def send_while_reading(
    stream: anyio.abc.ByteStream, chunks: list[bytes], interval: float, seconds: float
) -> bytes:
    """Send `chunks`, `interval` apart, until the server closes the connection; what it sent before it closed.
    Reading meanwhile matters: an answer not yet read when the connection is reset would be lost."""
    received: list[bytes] = []

    async def send_slowly() -> None:
        for chunk in chunks:
            try:
                await stream.send(chunk)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                return  # the server closed the connection: that is what is tested
            await anyio.sleep(interval)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(send_slowly)
        received.append(await until_closed(stream, seconds))
        tasks.cancel_scope.cancel()
    return received[0]


def refusal(answer: bytes, status: int) -> dict[str, Any]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), answer[:300]
    assert b"content-type: application/json" in head.lower()
    assert b"connection: close" in head.lower()
    error: dict[str, Any] = json.loads(body)["error"]
    assert error["code"] == INVALID_REQUEST and "PRYNAI_" in error["message"]
    return error


async def test_headers_trickled_past_the_timeout_get_408_and_the_connection_closed(impatient: RunningServer) -> None:
    head, body = call("add", {"a": 1, "b": 2})
    # A pause within the timeout is no offence: the request is served.
    async with await anyio.connect_tcp("127.0.0.1", port_of(impatient)) as patient:
        await patient.send(head[:40])
        await anyio.sleep(TIMEOUT / 2)
        await patient.send(head[40:] + body)
        with anyio.fail_after(5):
            assert (await patient.receive()).startswith(b"HTTP/1.1 200")

    # Half the headers, then nothing: cut after the timeout.
    async with await anyio.connect_tcp("127.0.0.1", port_of(impatient)) as stalled:
        started = time.monotonic()
        await stalled.send(head[: len(head) // 2])
        answer = await until_closed(stalled, TIMEOUT + 3)
        assert time.monotonic() - started >= TIMEOUT - 0.1
    assert "headers did not arrive within 2 s" in refusal(answer, 408)["message"]

    # A byte every half second keeps no connection: the deadline is for the whole head, not between bytes.
    async with await anyio.connect_tcp("127.0.0.1", port_of(impatient)) as trickling:
        started = time.monotonic()
        answer = await trickle(trickling, head, TIMEOUT + 3)
        assert time.monotonic() - started < TIMEOUT + 2
    refusal(answer, 408)


async def test_a_body_trickled_past_the_timeout_gets_408_and_the_connection_closed(impatient: RunningServer) -> None:
    since = impatient.log_size()
    head, body = call("add", {"a": 1, "b": 2})
    async with await anyio.connect_tcp("127.0.0.1", port_of(impatient)) as stalled:
        started = time.monotonic()
        await stalled.send(head + body[: len(body) // 2])
        answer = await until_closed(stalled, TIMEOUT + 3)
        assert time.monotonic() - started >= TIMEOUT - 0.1
    assert "body did not arrive within 2 s" in refusal(answer, 408)["message"]

    async with await anyio.connect_tcp("127.0.0.1", port_of(impatient)) as trickling:
        await trickling.send(head)
        refusal(await trickle(trickling, body, TIMEOUT + 3), 408)

    records = impatient.log_records(since)
    assert len([r for r in records if r.get("event") == "body_timeout"]) == 2
    assert [r["status"] for r in records if r.get("event") == "http"] == [408, 408]
    assert "Traceback" not in impatient.log(since)  # the app saw a client gone, not a failure

    # The timeout is for receiving a request, not for answering it: a call running past it streams to its end.
    head, body = call("long_task", {"steps": 4, "delay_seconds": TIMEOUT / 2})
    async with await anyio.connect_tcp("127.0.0.1", port_of(impatient)) as stream:
        await stream.send(head + body)
        received = b""
        with anyio.fail_after(15):
            while b'"done"' not in received:
                received += await stream.receive()
    assert received.startswith(b"HTTP/1.1 200")


async def test_the_part_of_a_body_that_came_is_not_served(impatient: RunningServer) -> None:
    """A session request whose JSON is whole but whose body is not (trailing spaces still owed): 408, and the call
    is not made, as the client was told."""
    async with httpx2.AsyncClient(trust_env=False, timeout=30) as http:
        session = RawSession(http, [impatient.mcp_url])
        await session.open()
        async with client(impatient.mcp_url, "modern") as mcp:
            before = await read_counter(mcp)
        body = json.dumps(session.call(2, "bump_counter", {"by": 1})).encode() + b" " * 100
        head = "".join(f"{name}: {value}\r\n" for name, value in session.headers().items())
        request = f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode()
        async with await anyio.connect_tcp("127.0.0.1", port_of(impatient)) as stalled:
            await stalled.send(request + body[:-50])
            refusal(await until_closed(stalled, TIMEOUT + 3), 408)
        async with client(impatient.mcp_url, "modern") as mcp:
            assert await read_counter(mcp) == before


async def test_a_connection_that_sends_nothing_is_closed_after_the_keepalive(impatient: RunningServer) -> None:
    async with await anyio.connect_tcp("127.0.0.1", port_of(impatient)) as silent:
        started = time.monotonic()
        assert await until_closed(silent, KEEPALIVE + 3) == b""  # closed without a word, as an idle connection is
        assert time.monotonic() - started >= KEEPALIVE - 0.1


async def test_an_oversized_head_gets_431(impatient: RunningServer) -> None:
    head, body = call("add", {"a": 1, "b": 2})
    big = head.replace(b"Host:", b"X-Padding: " + b"p" * 40_000 + b"\r\nHost:")
    async with await anyio.connect_tcp("127.0.0.1", port_of(impatient)) as stream:
        await stream.send(big + body)
        assert "PRYNAI_MAX_HEADER_BYTES" in refusal(await until_closed(stream, 5), 431)["message"]
    # Sent a little at a time, never finished: refused once it passes the cap, not buffered until the timeout.
    async with await anyio.connect_tcp("127.0.0.1", port_of(impatient)) as stream:
        started = time.monotonic()
        chunks = [head[:20]] + [b"X-More: " + b"m" * 1000 + b"\r\n"] * 40
        refusal(await send_while_reading(stream, chunks, 0.01, TIMEOUT + 3), 431)
        assert time.monotonic() - started < TIMEOUT
    # Within the cap: served.
    fitting = head.replace(b"Host:", b"X-Padding: " + b"p" * 20_000 + b"\r\nHost:")
    async with await anyio.connect_tcp("127.0.0.1", port_of(impatient)) as stream:
        await stream.send(fitting + body)
        with anyio.fail_after(5):
            assert (await stream.receive()).startswith(b"HTTP/1.1 200")
