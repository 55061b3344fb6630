"""Host and Origin checks for /mcp (DNS-rebinding protection that also works behind a load balancer).

The SDK's own check knows only exact names with optional `:*` ports; this one accepts `*` (any host, for a
trusted proxy in front), `*.example.com` suffixes, and takes the CORS allow-list into account for Origin.
A request that fails gets 421 (Host) or 403 (Origin) with a JSON-RPC error body.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from prynai_mcp.http.errors import jsonrpc_error_response


def _hostname(host_header: str) -> str:
    """`example.com:8000` -> `example.com`; `[::1]:8000` -> `[::1]`."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _name_allowed(name: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        pattern = _hostname(pattern.removesuffix(":*"))
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


class HostOriginGuard:
    """ASGI middleware: refuse requests to `path` whose Host or Origin is not allowed."""

    def __init__(self, app: ASGIApp, *, path: str, allowed_hosts: list[str], allowed_origins: list[str]) -> None:
        self.app = app
        self.path = path
        self.allowed_hosts = allowed_hosts
        self.allowed_origins = [o.rstrip("/").lower() for o in allowed_origins]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if not host or not _name_allowed(_hostname(host), self.allowed_hosts):
            response = jsonrpc_error_response(421, f"Host {host!r} is not allowed (PRYNAI_ALLOWED_HOSTS)")
            await response(scope, receive, send)
            return
        origin = headers.get("origin")
        if origin is not None and not self._origin_allowed(origin):
            response = jsonrpc_error_response(
                403, f"Origin {origin!r} is not allowed (CORS_ALLOW_ORIGINS, PRYNAI_ALLOWED_ORIGINS)"
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _origin_allowed(self, origin: str) -> bool:
        origin = origin.rstrip("/").lower()
        if "*" in self.allowed_origins or origin in self.allowed_origins:
            return True
        parts = urlsplit(origin)
        # A page served from an allowed host may call it: same-site by construction.
        return (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and _name_allowed(_hostname(parts.netloc), self.allowed_hosts)
        )
