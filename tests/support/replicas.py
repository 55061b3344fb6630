"""Several server replicas sharing one Redis, and a load balancer that sends each request to the next one in turn.

`running_replicas(n, redis_url)` starts `n` real `prynai-mcp serve` subprocesses (in parallel) with `REDIS_URL` set;
each can be stopped (SIGTERM or SIGKILL) and started again on its own port. `round_robin_proxy(urls)` is an
in-process HTTP reverse proxy on loopback with no affinity at all: every request, whatever its session, goes to the
next upstream. It forwards every end-to-end header (`Mcp-Session-Id`, `Last-Event-ID`, ...), streams responses (SSE
included) through unbuffered, stamps `X-Prynai-Replica: <index>` on each response and records every hop, so a test
can prove that one client's consecutive requests really landed on different replicas. With `health_interval` it also
polls each upstream's `/healthz` and leaves out any that does not answer 200, as a health-checking balancer does.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import signal
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
import uvicorn
from starlette.types import Message, Receive, Scope, Send

from tests.support.server import RunningServer, free_port, running_server, stop

REPLICA_HEADER = "x-prynai-replica"
# Connection-level headers a proxy must not forward (RFC 9110 section 7.6.1), plus the framing it recomputes.
_HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
    b"content-length",
}


class Replica:
    """One server subprocess that keeps its port across restarts."""

    def __init__(self, index: int, env: Mapping[str, str]) -> None:
        self.index = index
        self.port = free_port()
        self.env = dict(env)
        self._context: contextlib.AbstractContextManager[RunningServer] | None = None
        self.server: RunningServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.url}/mcp"

    def start(self) -> None:
        if self.server is not None:
            return
        context = running_server(self.env, port=self.port)
        self.server = context.__enter__()
        self._context = context

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the process (SIGKILL: as a crash would) and release its log."""
        if self.server is None or self._context is None:
            return
        stop(self.server.process, sig)
        context, self._context, self.server = self._context, None, None
        context.__exit__(None, None, None)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.server.log() if self.server is not None else ""

    def log_records(self) -> list[dict[str, Any]]:
        """The running process's JSON log lines (see `RunningServer.log_records`)."""
        return self.server.log_records() if self.server is not None else []


class Replicas:
    """`count` replicas with the same environment (one deployment)."""

    def __init__(self, count: int, redis_url: str, env: Mapping[str, str] | None = None) -> None:
        shared = {"REDIS_URL": redis_url, **(env or {})}
        self.replicas = [Replica(index, shared) for index in range(count)]

    def __getitem__(self, index: int) -> Replica:
        return self.replicas[index]

    def __iter__(self) -> Iterator[Replica]:
        return iter(self.replicas)

    def __len__(self) -> int:
        return len(self.replicas)

    @property
    def urls(self) -> list[str]:
        return [replica.url for replica in self.replicas]

    def start_all(self) -> None:
        """Start every replica at once (start-up is mostly interpreter import time); all or none."""
        with ThreadPoolExecutor(max_workers=len(self.replicas)) as pool:
            outcomes = list(pool.map(_try_start, self.replicas))
        failures = [error for error in outcomes if error is not None]
        if failures:
            self.stop_all()
            raise failures[0]

    def stop_all(self, sig: int = signal.SIGTERM) -> None:
        for replica in self.replicas:
            replica.stop(sig)

    def restart_all(self) -> None:
        self.stop_all()
        self.start_all()


def _try_start(replica: Replica) -> BaseException | None:
    try:
        replica.start()
    except BaseException as error:  # reported to the caller, which stops the replicas that did start
        return error
    return None


@contextlib.contextmanager
def running_replicas(count: int, redis_url: str, env: Mapping[str, str] | None = None) -> Iterator[Replicas]:
    replicas = Replicas(count, redis_url, env)
    try:
        replicas.start_all()
        yield replicas
    finally:
        replicas.stop_all()


@dataclass(frozen=True)
class Hop:
    """One request as the proxy passed it on."""

    replica: int
    http_method: str
    mcp_method: str | None  # the JSON-RPC method (from `Mcp-Method` or the body), None for a response or a GET
    session_id: str | None
    status: int


@dataclass
class RoundRobinProxy:
    """ASGI reverse proxy: request k goes to the (k mod n)-th of the n upstreams not marked down."""

    upstreams: Sequence[str]
    hops: list[Hop] = field(default_factory=list)
    # Upstreams taken out of rotation (as a health-checking balancer would after a replica dies). Indices, and so
    # `Hop.replica` and `X-Prynai-Replica`, keep naming the same upstream.
    down: set[int] = field(default_factory=set)
    # Seconds between two rounds of `/healthz` checks; None: no checks. Failing upstreams go in `unhealthy`.
    health_interval: float | None = None
    unhealthy: set[int] = field(default_factory=set)
    # Seconds after which the proxy ends any response still streaming, without a word (as Azure Container Apps'
    # ingress ends every request at 240 s); None: never. `cuts` counts the streams it ended so.
    cut_after: float | None = None
    cuts: int = 0
    _turn: Iterator[int] = field(default_factory=itertools.count)
    _client: httpx2.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._forward(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as background:
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    # Upstream reads have no timeout: an SSE stream may stay quiet for as long as the test wants.
                    timeout = httpx2.Timeout(connect=5.0, read=None, write=30.0, pool=None)
                    self._client = httpx2.AsyncClient(timeout=timeout, trust_env=False)
                    if self.health_interval is not None:
                        background.start_soon(self._check_health, self.health_interval)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    background.cancel_scope.cancel()
                    if self._client is not None:
                        await self._client.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def _check_health(self, interval: float) -> None:
        assert self._client is not None
        while True:
            for index, upstream in enumerate(self.upstreams):
                try:
                    healthy = (await self._client.get(f"{upstream}/healthz", timeout=1.0)).status_code == 200
                except httpx2.HTTPError:
                    healthy = False
                if healthy:
                    self.unhealthy.discard(index)
                else:
                    self.unhealthy.add(index)
            await anyio.sleep(interval)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self._client is not None
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        live = [index for index in range(len(self.upstreams)) if index not in self.down | self.unhealthy]
        if not live:
            await _send_whole(send, 503, b"no upstream in rotation")
            return
        index = live[next(self._turn) % len(live)]
        headers = [(name, value) for name, value in scope["headers"] if name.lower() not in _HOP_BY_HOP]
        target = self.upstreams[index] + scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        request = self._client.build_request(scope["method"], target, headers=headers, content=body)
        hop_headers = {name.lower(): value.decode("latin-1") for name, value in scope["headers"]}
        try:
            response = await self._client.send(request, stream=True)
        except httpx2.HTTPError as error:
            self._record(index, scope, hop_headers, body, 502)
            await _send_whole(send, 502, f"upstream {index} unreachable: {error}".encode())
            return
        self._record(index, scope, hop_headers, body, response.status_code)
        out = [(name, value) for name, value in response.headers.raw if name.lower() not in _HOP_BY_HOP]
        if "content-length" in response.headers:  # raw bytes are relayed, so the upstream length holds
            out.append((b"content-length", response.headers["content-length"].encode()))
        out.append((REPLICA_HEADER.encode(), str(index).encode()))
        try:
            await send({"type": "http.response.start", "status": response.status_code, "headers": out})
            async with anyio.create_task_group() as relay:

                async def pump() -> None:
                    async for chunk in response.aiter_raw():
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    relay.cancel_scope.cancel()

                async def watch_client() -> None:
                    # A client that hangs up (e.g. closes its GET stream) must close the upstream stream too.
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    relay.cancel_scope.cancel()

                async def cut() -> None:
                    assert self.cut_after is not None
                    await anyio.sleep(self.cut_after)
                    self.cuts += 1
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    relay.cancel_scope.cancel()

                relay.start_soon(pump)
                relay.start_soon(watch_client)
                if self.cut_after is not None:
                    relay.start_soon(cut)
        except OSError:
            pass  # the client went away mid-send
        finally:
            with anyio.CancelScope(shield=True):
                await response.aclose()

    def _record(self, index: int, scope: Scope, headers: Mapping[str, str], body: bytes, status: int) -> None:
        mcp_method = headers.get("mcp-method")
        if mcp_method is None and body:
            with contextlib.suppress(ValueError):
                parsed: Any = json.loads(body)
                if isinstance(parsed, dict) and isinstance(parsed.get("method"), str):
                    mcp_method = parsed["method"]
        self.hops.append(Hop(index, scope["method"], mcp_method, headers.get("mcp-session-id"), status))

    def replicas_for(self, mcp_method: str) -> list[int]:
        """Which replica served each request of `mcp_method`, in order."""
        return [hop.replica for hop in self.hops if hop.mcp_method == mcp_method]


async def _send_whole(send: Send, status: int, body: bytes) -> None:
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body})


@dataclass
class RunningProxy:
    proxy: RoundRobinProxy
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.url}/mcp"

    @property
    def hops(self) -> list[Hop]:
        return self.proxy.hops

    def replicas_for(self, mcp_method: str) -> list[int]:
        return self.proxy.replicas_for(mcp_method)

    def drop(self, index: int) -> None:
        """Stop sending requests to upstream `index` (requests already under way continue)."""
        self.proxy.down.add(index)

    def restore(self, index: int) -> None:
        self.proxy.down.discard(index)

    def in_rotation(self) -> list[int]:
        """The upstreams the next request may go to."""
        out = self.proxy.down | self.proxy.unhealthy
        return [index for index in range(len(self.proxy.upstreams)) if index not in out]


@contextlib.contextmanager
def round_robin_proxy(
    upstreams: Sequence[str], *, health_interval: float | None = None, cut_after: float | None = None
) -> Iterator[RunningProxy]:
    """Serve a `RoundRobinProxy` over `upstreams` (base URLs) on a random loopback port, in a background thread.

    Its own thread and event loop keep it independent of the test's loop (sync and async tests can both use it).
    """
    proxy = RoundRobinProxy(list(upstreams), health_interval=health_interval, cut_after=cut_after)
    port = free_port()
    config = uvicorn.Config(
        proxy,
        host="127.0.0.1",
        port=port,
        loop="asyncio",
        lifespan="on",
        log_level="warning",
        access_log=False,
        # Streams still open at the end of a test must not hold the proxy's shutdown.
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="round-robin-proxy", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the round-robin proxy did not start")
            time.sleep(0.05)
        yield RunningProxy(proxy, port)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
