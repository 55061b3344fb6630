"""A recording HTTPS proxy in front of the MCP server: what each request really carried, seen on the wire.

For every request it keeps the JSON-RPC method, the `Mcp-Session-Id` and `MCP-Protocol-Version` headers, which
bearer token it carried and that token's `exp` (read, not verified), the moment it forwarded the request, and the
server's status. `delay` holds each answer back that
long (a slow network, a slow model) so an agent run spans several token lifetimes; the token is checked at the
moment it is forwarded, so a stale token shows here even where the server's clock-skew leeway would still take it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
from entra_standin import RunningStandIn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from tests.agents.serving import serving

HOP_BY_HOP = {"host", "connection", "keep-alive", "transfer-encoding", "content-length", "te", "upgrade"}
# uvicorn writes its own; passing the server's on would duplicate them.
OWN_RESPONSE_HEADERS = HOP_BY_HOP - {"content-length"} | {"server", "date"}


@dataclass(frozen=True)
class Exchange:
    method: str  # HTTP
    mcp_method: str | None  # JSON-RPC, of a POST
    session_id: str | None
    protocol_version: str | None
    token: str | None  # a digest of the bearer token it carried; None without one
    token_exp: float | None  # that token's `exp`
    forwarded_at: float  # time.time() when it left for the server
    status: int


def bearer(authorization: str | None) -> tuple[str | None, float | None]:
    """(digest, exp) of a bearer token; (None, None) without one."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return None, None
    token = authorization.split(" ", 1)[1]
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return hashlib.sha256(token.encode()).hexdigest()[:16], float(claims["exp"])


def json_rpc_method(body: bytes) -> str | None:
    with contextlib.suppress(ValueError):
        message = json.loads(body)
        if isinstance(message, dict) and isinstance(message.get("method"), str):
            return str(message["method"])
    return None


@dataclass
class RecordingProxy:
    upstream: str  # https://127.0.0.1:PORT of the MCP server
    standin: RunningStandIn  # its CA verifies the server; its certificate serves the proxy
    delay: float = 0.0
    url: str = ""
    exchanges: list[Exchange] = field(default_factory=list)  # in the order the server answered

    def sent(self) -> list[Exchange]:
        """The exchanges in the order they were forwarded."""
        return sorted(self.exchanges, key=lambda e: e.forwarded_at)

    @property
    def mcp_url(self) -> str:
        return f"{self.url}/mcp"

    def app(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            async with httpx2.AsyncClient(
                verify=self.standin.tls.ssl_context(),
                trust_env=False,
                timeout=httpx2.Timeout(30, read=None),
                # A connection per request: held-back answers leave pooled ones idle as long as the server's
                # keep-alive, and reusing one the server is closing fails the request (the proxy's fault, not
                # the example's).
                limits=httpx2.Limits(max_keepalive_connections=0),
            ) as client:
                app.state.client = client
                yield

        async def forward(request: Request) -> StreamingResponse:
            client: httpx2.AsyncClient = request.app.state.client
            headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
            content = await request.body()
            outgoing = client.build_request(
                request.method, f"{self.upstream}{request.url.path}", headers=headers, content=content
            )
            forwarded_at = time.time()
            answer = await client.send(outgoing, stream=True)
            token, exp = bearer(request.headers.get("authorization"))
            self.exchanges.append(
                Exchange(
                    method=request.method,
                    mcp_method=json_rpc_method(content) if request.method == "POST" else None,
                    session_id=request.headers.get("mcp-session-id"),
                    protocol_version=request.headers.get("mcp-protocol-version"),
                    token=token,
                    token_exp=exp,
                    forwarded_at=forwarded_at,
                    status=answer.status_code,
                )
            )
            await anyio.sleep(self.delay)

            async def body() -> AsyncIterator[bytes]:
                try:
                    async for chunk in answer.aiter_raw():
                        yield chunk
                finally:
                    with anyio.CancelScope(shield=True):  # the client may have gone: close upstream anyway
                        await answer.aclose()

            kept = {k: v for k, v in answer.headers.items() if k.lower() not in OWN_RESPONSE_HEADERS}
            return StreamingResponse(body(), status_code=answer.status_code, headers=kept)

        return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST", "DELETE"])], lifespan=lifespan)


@contextlib.contextmanager
def recording_proxy(upstream: str, standin: RunningStandIn, *, delay: float = 0.0) -> Iterator[RecordingProxy]:
    """The proxy on https://127.0.0.1:<free port> (the stand-in's loopback certificate) for the block."""
    proxy = RecordingProxy(upstream, standin, delay)
    tls = {"ssl_certfile": str(standin.tls.cert), "ssl_keyfile": str(standin.tls.key)}
    with serving(proxy.app(), "recording-proxy", **tls) as port:
        proxy.url = f"https://127.0.0.1:{port}"
        yield proxy
