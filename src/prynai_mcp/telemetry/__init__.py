"""OpenTelemetry traces and metrics for PrynAI MCP: off unless configured, free when off.

Guarantees:
- **Off** (the default: no OTLP exporter or endpoint and no `APPLICATIONINSIGHTS_CONNECTION_STRING` configured, or
  `OTEL_SDK_DISABLED=true`; see `telemetry.plan`): this package imports nothing of OpenTelemetry or Azure Monitor,
  starts no thread, sets no provider and exports nothing. No middleware is added and Redis gets redis-py's plain
  client; the hooks below cost one check of a module variable. The MCP SDK's own span middleware is taken out of
  the chain too (it would start a no-op span per message). Two dependencies import some OpenTelemetry by themselves,
  at import time: the MCP SDK the API, redis-py 8 `opentelemetry.sdk.metrics` (for its optional observability,
  whenever the SDK is installed); neither sets up a provider, so neither records or exports anything.
- **On** (`OTEL_*` for OTLP over HTTP, `APPLICATIONINSIGHTS_CONNECTION_STRING` for Azure Monitor, or both): one
  SERVER span per MCP message after the OpenTelemetry MCP conventions, continuing the client's trace context
  (`params._meta`, else the HTTP `traceparent` header), with a CLIENT span per Redis round trip under it; the
  `mcp.server.operation.duration` and `mcp.server.session.duration` histograms; sessions open per replica, SSE
  streams open, interrupted requests (-32054), Redis latency and errors, authentication refusals by reason. The
  SDK's span middleware is replaced, never run beside ours, so no message gets two spans.
  What is buffered is exported when the server stops (`shutdown`); a SIGKILL loses the last few seconds.

Process-wide, like OpenTelemetry's own providers: `start(settings)` once, first thing in `create_app` (before the Redis
client is built), then `instrument_server(mcp)`, `edge()`, `watch_sessions(...)`, and `await shutdown()` at the end.
The one-line hooks (`auth_rejected`, `request_interrupted`, `session_ended`, `redis_client`, `trace_fields`) are
called where each thing happens and do nothing while off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.mcpserver import MCPServer
from redis.asyncio import ConnectionPool, Redis
from redis.credentials import CredentialProvider
from starlette.middleware import Middleware

from prynai_mcp import _sdk
from prynai_mcp.config import Settings
from prynai_mcp.telemetry.plan import plan_from

if TYPE_CHECKING:
    from prynai_mcp.telemetry.providers import Telemetry

logger = logging.getLogger(__name__)

_active: Telemetry | None = None
_NO_FIELDS: dict[str, Any] = {}


def start(settings: Settings) -> bool:
    """Set up exporting as `settings` ask (once per process); whether telemetry is on. `ValueError`: a bad setting."""
    global _active
    plan = plan_from(settings)
    if _active is None and plan.enabled:
        from prynai_mcp.telemetry.providers import Telemetry

        _active = Telemetry(plan, settings)
    elif _active is None:
        logger.debug("telemetry off", extra={"event": "telemetry", "traces": [], "metrics": []})
    return _active is not None


def enabled() -> bool:
    return _active is not None


def instrument_server(mcp: MCPServer[Any]) -> None:
    """Put our span middleware where the SDK's stands (first: it wraps everything), or just drop the SDK's."""
    chain = mcp.middleware
    # The SDK documents dropping its middleware from this list as the way to opt out of it.
    position = next((i for i, layer in enumerate(chain) if _sdk.is_sdk_span_middleware(layer)), 0)
    chain[:] = [layer for layer in chain if not _sdk.is_sdk_span_middleware(layer)]
    if _active is not None:
        from prynai_mcp.telemetry.spans import ServerSpans

        chain.insert(position, ServerSpans(_active.tracer, _active.instruments, azure_monitor=_active.azure_traces))


def edge() -> list[Middleware]:
    """ASGI middleware for the app's edge: the SSE stream count (none while off)."""
    if _active is None:
        return []
    from prynai_mcp.telemetry.streams import SseStreams

    return [Middleware(SseStreams, streams=_active.instruments.sse_streams)]


def watch_sessions(count: Callable[[], int]) -> None:
    """Report `count()` (sessions held by this replica) each time metrics are collected."""
    if _active is not None:
        _active.instruments.watch_sessions(count)


def redis_client(pool: ConnectionPool, credential_provider: CredentialProvider | None) -> Redis:
    """The process's Redis client over `pool`: redis-py's own while off, one measuring each round trip while on."""
    if _active is None:
        return Redis(connection_pool=pool, credential_provider=credential_provider)
    from prynai_mcp.telemetry.redis import RoundTrips, TracedRedis

    round_trips = RoundTrips(_active.tracer, _active.instruments, pool)
    return TracedRedis(round_trips, connection_pool=pool, credential_provider=credential_provider)


def auth_rejected(reason: str, status: int) -> None:
    """A request to /mcp refused for `reason` with HTTP `status`."""
    if _active is not None:
        _active.instruments.auth_rejections.add(1, {"prynai.auth.reason": reason, "http.response.status_code": status})


def request_interrupted() -> None:
    """A client was told its request died with the replica running it (-32054)."""
    if _active is not None:
        _active.instruments.interrupted.add(1)


def session_ended(protocol_version: str, created_at: float) -> None:
    """A session-based session ended by the client (`DELETE`), `created_at` being its `initialize` (epoch seconds)."""
    if _active is not None:
        _active.instruments.session_duration.record(
            max(0.0, time.time() - created_at),
            {"mcp.protocol.version": protocol_version, "network.transport": "tcp", "network.protocol.name": "http"},
        )


def trace_fields() -> dict[str, Any]:
    """`trace_id` and `span_id` of the current span, for a log line (nothing while off or outside a span)."""
    if _active is None:
        return _NO_FIELDS
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return _NO_FIELDS
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


async def shutdown() -> None:
    """Export what is buffered and stop exporting (in a worker thread: the exporters block)."""
    global _active
    active, _active = _active, None
    if active is not None:
        await anyio.to_thread.run_sync(active.shutdown)
