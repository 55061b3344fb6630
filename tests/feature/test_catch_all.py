"""A failure nothing else handled, on either wire, is a JSON-RPC 500 with a request id the log shares: never
uvicorn's plain-text 500, never a dropped connection, never the traceback on the wire.

The fault is set off by a test-only wrapper of the real app (`tests/support/faulty_app.py`): once the bugs that
used to escape are fixed, no input provokes one, and the catch-all must hold for the next one all the same."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from tests.support.documented import INTERNAL_ERROR
from tests.support.faulty_app import FAULT_HEADER, FAULT_TEXT
from tests.support.raw import ACCEPT, RawSession
from tests.support.server import RunningServer, free_port, running_server

REPO = Path(__file__).resolve().parents[2]
MODERN = "2026-07-28"


@pytest.fixture(scope="module")
def faulty() -> Iterator[RunningServer]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "tests.support.faulty_app:create_app", "--factory"]
    with running_server(port=port, command=[*command, "--host", "127.0.0.1", "--port", str(port)], cwd=REPO) as s:
        yield s


def modern_list() -> tuple[dict[str, Any], dict[str, str]]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
    }
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": {"_meta": meta}}
    return body, {"Accept": ACCEPT, "Mcp-Protocol-Version": MODERN, "Mcp-Method": "tools/list"}


async def faulty_request(faulty: RunningServer, http: httpx2.AsyncClient, wire: str, fault: str) -> httpx2.Request:
    if wire == "legacy":
        session = RawSession(http, [faulty.mcp_url])
        await session.open()  # a real session: the fault hits a request of it
        body, headers = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, session.headers()
    else:
        body, headers = modern_list()
    return http.build_request("POST", faulty.mcp_url, json=body, headers={**headers, FAULT_HEADER: fault})


def internal_errors(faulty: RunningServer, since: int) -> list[dict[str, Any]]:
    return [r for r in faulty.log_records(since) if r.get("event") == "internal_error"]


async def test_an_unexpected_failure_is_a_json_rpc_500_with_a_request_id(
    faulty: RunningServer, http: httpx2.AsyncClient, wire: str
) -> None:
    since = faulty.log_size()
    response = await http.send(await faulty_request(faulty, http, wire, "raise"))
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    request_id = body["error"]["data"]["requestId"]
    assert re.fullmatch(r"[0-9a-f]{16}", request_id), body
    error = {"code": INTERNAL_ERROR, "message": "Internal error", "data": {"requestId": request_id}}
    assert body == {"jsonrpc": "2.0", "id": None, "error": error}
    assert FAULT_TEXT not in response.text and "Traceback" not in response.text

    # The operator finds the traceback under the id the client reports, once.
    [logged] = internal_errors(faulty, since)
    assert logged["request_id"] == request_id and logged["level"] == "error"
    assert "Traceback" in logged["exception"] and FAULT_TEXT in logged["exception"]
    assert "Exception in ASGI application" not in faulty.log(since)  # uvicorn never saw it


async def test_the_connection_survives_the_500(faulty: RunningServer) -> None:
    """A balancer's pooled connection is not cut by one failed request: the next request on it is answered."""
    body, headers = modern_list()
    content = json.dumps(body).encode()
    lines = ["POST /mcp HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json", f"{FAULT_HEADER}: raise"]
    lines += [f"{name}: {value}" for name, value in headers.items()] + [f"Content-Length: {len(content)}"]
    port = int(faulty.url.rsplit(":", 1)[1])
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send("\r\n".join(lines).encode() + b"\r\n\r\n" + content)
        answer = await read_response(stream)
        assert answer.startswith(b"HTTP/1.1 500"), answer
        assert b"connection: close" not in answer.lower()
        await stream.send(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert (await read_response(stream)).startswith(b"HTTP/1.1 200")


async def read_response(stream: anyio.abc.ByteStream) -> bytes:
    """One whole response with a Content-Length, read off a raw connection."""
    data = b""
    with anyio.fail_after(10):
        while b"\r\n\r\n" not in data:
            data += await stream.receive()
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"content-length: (\d+)", head.lower()).group(1))  # type: ignore[union-attr]
        while len(rest) < length:
            rest += await stream.receive()
    return head + b"\r\n\r\n" + rest


async def test_a_failure_after_the_answer_started_ends_the_stream_cleanly(
    faulty: RunningServer, http: httpx2.AsyncClient
) -> None:
    """Too late for a status: the client gets what was sent and a proper end of the stream (not a reset), and the
    log has the traceback."""
    since = faulty.log_size()
    body, headers = modern_list()
    headers = {**headers, FAULT_HEADER: "after-start"}
    async with http.stream("POST", faulty.mcp_url, json=body, headers=headers) as got:
        assert got.status_code == 200
        received = await got.aread()  # a cut stream raises here (incomplete chunked read)
    assert received == b"event: message\ndata: {}\n\n"
    [logged] = internal_errors(faulty, since)
    assert logged["response_started"] is True and FAULT_TEXT in logged["exception"]
