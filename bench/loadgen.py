"""A small, fast HTTP/1.1 keep-alive load generator on raw asyncio streams.

It parses only what it needs: the status line, the headers, then a `Content-Length` body or a chunked body (the SSE
replies of the MCP servers), reading until the response ends. The time of a request is taken when the JSON-RPC result
has arrived (for SSE: the chunk carrying `"result"`); the rest of the response (the stream's end) is then drained so
the connection can be reused. httpx-style clients cost more CPU per request than the servers measured here spend.

Two wires: `legacy` (2025-11-25: each connection opens a session, then calls with `Mcp-Session-Id`) and `modern`
(2026-07-28: no session; every call carries the `_meta` envelope and the `Mcp-Method`/`Mcp-Name` headers).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

PROTOCOL = "2025-11-25"
MODERN_PROTOCOL = "2026-07-28"
WIRES = ("legacy", "modern")
# The per-request envelope of the 2026-07-28 wire, as the SDK client sends it (JSON, spliced into each call).
_MODERN_META = (
    b'"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
    b'"io.modelcontextprotocol/clientCapabilities":{},'
    b'"io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"}}'
)


class HttpError(Exception):
    pass


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    result_at: float  # perf_counter() when the JSON-RPC result (or, failing that, the end of the body) arrived


class Connection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.host = f"127.0.0.1:{port}".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 20)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def send(self, method: bytes, path: bytes, headers: Sequence[tuple[bytes, bytes]], body: bytes = b"") -> None:
        assert self.writer is not None
        head = [method + b" " + path + b" HTTP/1.1\r\nHost: " + self.host]
        head.extend(name + b": " + value for name, value in headers)
        if body or method == b"POST":
            head.append(b"Content-Length: " + str(len(body)).encode())
        self.writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)

    async def read_head(self) -> tuple[int, dict[str, str]]:
        assert self.reader is not None
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return status, headers

    async def read_response(self, marker: bytes = b'"result"') -> Response:
        """Read one whole response; `result_at` is when `marker` first appeared in the body."""
        assert self.reader is not None
        status, headers = await self.read_head()
        result_at = 0.0
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int((await self.reader.readline()).split(b";", 1)[0], 16)
                if size == 0:
                    await self.reader.readline()  # the blank line after the last chunk (no trailers are sent)
                    break
                chunk = (await self.reader.readexactly(size + 2))[:-2]
                parts.append(chunk)
                if not result_at and marker in chunk:
                    result_at = time.perf_counter()
            body = b"".join(parts)
        else:
            length = int(headers.get("content-length", "0"))
            body = await self.reader.readexactly(length) if length else b""
        if not result_at:
            result_at = time.perf_counter()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, body, result_at)


def modern_headers() -> list[tuple[bytes, bytes]]:
    """What a 2026-07-28 `tools/call add` carries: the version, and the method and name the body names."""
    return [
        (b"Accept", b"application/json, text/event-stream"),
        (b"Content-Type", b"application/json"),
        (b"Mcp-Protocol-Version", MODERN_PROTOCOL.encode()),
        (b"Mcp-Method", b"tools/call"),
        (b"Mcp-Name", b"add"),
    ]


def mcp_headers(session_id: str | None = None) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"Accept", b"application/json, text/event-stream"),
        (b"Content-Type", b"application/json"),
        (b"Mcp-Protocol-Version", PROTOCOL.encode()),
    ]
    if session_id:
        headers.append((b"Mcp-Session-Id", session_id.encode()))
    return headers


def sse_messages(body: bytes) -> list[dict[str, Any]]:
    """The JSON-RPC messages in an SSE body (`data:` lines; events without data skipped)."""
    return [json.loads(line[5:]) for line in body.split(b"\n") if line.startswith(b"data:") and line[5:].strip()]


async def open_session(
    connections: Sequence[Connection], first: int = 0, extra: Sequence[tuple[bytes, bytes]] = ()
) -> str:
    """initialize + notifications/initialized, the two requests rotated over `connections` from `first`; `extra`
    headers (a bearer token) go on both."""
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}},
    }
    conn = connections[first % len(connections)]
    conn.send(b"POST", b"/mcp", [*mcp_headers(), *extra], json.dumps(init).encode())
    response = await conn.read_response()
    if response.status != 200 or "mcp-session-id" not in response.headers:
        raise HttpError(f"initialize: {response.status} {response.body[:200]!r}")
    session_id = response.headers["mcp-session-id"]
    conn = connections[(first + 1) % len(connections)]
    done = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode()
    conn.send(b"POST", b"/mcp", [*mcp_headers(session_id), *extra], done)
    response = await conn.read_response()
    if response.status != 202:
        raise HttpError(f"notifications/initialized: {response.status} {response.body[:200]!r}")
    return session_id


@dataclass
class LoadResult:
    name: str
    seconds: float
    latencies: list[float] = field(default_factory=list)  # seconds, measured requests only
    errors: int = 0
    first_error: str = ""
    generator_cpu: float = 0.0  # CPU seconds this process spent during the measured window
    cpu: dict[str, float] = field(default_factory=dict)  # probe() deltas over the measured window (CPU seconds)

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _call_body(request_id: int, a: int, wire: str = "legacy") -> bytes:
    meta = b"," + _MODERN_META if wire == "modern" else b""
    return b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"add","arguments":{"a":%d,"b":1}%s}}' % (
        request_id,
        a,
        meta,
    )


async def run_load(
    name: str,
    ports: Sequence[int],
    *,
    concurrency: int,
    warmup: float,
    seconds: float,
    mcp: bool,
    wire: str = "legacy",
    probe: Callable[[], dict[str, float]] | None = None,
    extra_headers: Sequence[tuple[bytes, bytes]] = (),
) -> LoadResult:
    """`concurrency` workers, each with one keep-alive connection per port, alternating ports on every request
    (one port: no rotation). With `mcp` on the legacy `wire`, each worker first opens a session (its two requests
    rotated too); on the modern wire there is none, and each call carries its envelope. Without `mcp` (the ceiling)
    the body is the same but only `Content-Type` is sent. Requests completed in the `seconds` after `warmup` are
    measured; every response is checked for the right sum."""
    if wire not in WIRES:
        raise ValueError(f"wire must be one of {WIRES}, not {wire!r}")
    result = LoadResult(name, seconds)
    phase = {"measure": False, "stop": False}
    ready = asyncio.Event()
    opened = 0

    async def worker(index: int) -> None:
        nonlocal opened
        connections = [Connection(port) for port in ports]
        for conn in connections:
            await conn.open()
        turn = index  # workers start on different replicas
        session_id = None
        if mcp and wire == "legacy":
            session_id = await open_session(connections, turn, extra_headers)
            turn += 2
        if not mcp:
            headers = [(b"Content-Type", b"application/json")]
        else:
            headers = mcp_headers(session_id) if wire == "legacy" else modern_headers()
        headers = [*headers, *extra_headers]
        opened += 1
        if opened == concurrency:
            ready.set()
        await ready.wait()
        request_id = 1
        try:
            while not phase["stop"]:
                conn = connections[turn % len(connections)]
                turn += 1
                a = index * 1_000_000 + request_id
                started = time.perf_counter()
                conn.send(b"POST", b"/mcp", headers, _call_body(request_id, a, wire))
                response = await conn.read_response()
                expected = b'"text":"%d"' % (a + 1)
                ok = response.status == 200 and expected in response.body
                if phase["measure"] and not phase["stop"]:
                    if ok:
                        result.latencies.append(response.result_at - started)
                    else:
                        result.errors += 1
                        result.first_error = result.first_error or f"{response.status} {response.body[:300]!r}"
                request_id += 1
                if conn.writer is None:  # the server closed it
                    await conn.open()
        finally:
            for conn in connections:
                conn.close()

    tasks = [asyncio.create_task(worker(index)) for index in range(concurrency)]
    waiter = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED, timeout=60)
    if waiter not in done:
        for task in tasks:
            task.cancel()
        failed = [task for task in tasks if task.done() and task.exception()]
        raise HttpError(f"{name}: workers did not start: {failed[0].exception() if failed else 'timeout'}")
    await asyncio.sleep(warmup)
    phase["measure"] = True
    cpu0 = time.process_time()
    before = probe() if probe else {}
    await asyncio.sleep(seconds)
    phase["stop"] = True
    result.generator_cpu = time.process_time() - cpu0
    after = probe() if probe else {}
    result.cpu = {key: after[key] - before[key] for key in before}
    results = await asyncio.gather(*tasks, return_exceptions=True)
    crashed = [r for r in results if isinstance(r, BaseException)]
    if crashed:
        result.errors += len(crashed)
        result.first_error = result.first_error or repr(crashed[0])
    return result
