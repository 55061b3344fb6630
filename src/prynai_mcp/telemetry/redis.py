"""Redis round trips as CLIENT spans and metrics, at the one client every module shares (loaded only when on).

`TracedRedis` is what `RedisStore` builds instead of redis-py's `Redis` when telemetry is on, so every command
(scripts included: they run as `EVALSHA`) and every pipeline passes through `RoundTrips.measure` once:
- a CLIENT span (`GETEX`, `EVALSHA`, `PIPELINE`, `MULTI`, ...) when it runs inside a recording span, i.e. inside an
  MCP request: background work (heartbeats, health probes, stream polling) would otherwise start a trace per poll;
- `db.client.operation.duration` for every command but blocking stream reads (their wait is not Redis's latency),
  and `prynai.redis.errors` for every failure, by error type (a `NoScriptError` after Redis lost its script cache
  counts too: the script is then sent again).
Attributes follow the OpenTelemetry database conventions (`db.system.name=redis`, `db.operation.name`,
`db.namespace` = the database index, `server.address`, `server.port`). Pub/sub listeners are not traced.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode, Tracer
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.client import Pipeline

from prynai_mcp.telemetry.instruments import Instruments


class RoundTrips:
    def __init__(self, tracer: Tracer, instruments: Instruments, pool: ConnectionPool) -> None:
        self._tracer = tracer
        self._duration = instruments.redis_duration
        self._errors = instruments.redis_errors
        options = pool.connection_kwargs
        self._server: dict[str, Any] = {"db.system.name": "redis", "db.namespace": str(options.get("db", 0))}
        if "path" in options:
            self._server["server.address"] = str(options["path"])
        else:
            self._server["server.address"] = str(options.get("host", "localhost"))
            self._server["server.port"] = int(options.get("port", 6379))

    @contextlib.contextmanager
    def measure(self, operation: str, *, blocking: bool = False, batch: int = 0) -> Iterator[None]:
        attributes = {**self._server, "db.operation.name": operation}
        span = None
        if trace.get_current_span().is_recording():
            described = {**attributes, "db.operation.batch.size": batch} if batch > 1 else attributes
            span = self._tracer.start_span(operation, kind=SpanKind.CLIENT, attributes=described)
        started = time.perf_counter()
        try:
            yield
        except Exception as error:
            failure = type(error).__qualname__
            attributes["error.type"] = failure
            self._errors.add(1, {"db.operation.name": operation, "error.type": failure})
            if span is not None:
                span.set_attribute("error.type", failure)
                span.set_status(StatusCode.ERROR, failure)
            raise
        finally:
            if not blocking:
                self._duration.record(time.perf_counter() - started, attributes)
            if span is not None:
                span.end()


class TracedRedis(Redis):
    """redis-py's asyncio client with every command and pipeline measured by `round_trips`."""

    def __init__(self, round_trips: RoundTrips, **options: Any) -> None:
        super().__init__(**options)
        self._round_trips = round_trips

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        operation = str(args[0]).upper()
        with self._round_trips.measure(operation, blocking=operation in _STREAM_READS and _blocks(args)):
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        return TracedPipeline(self._round_trips, self.connection_pool, self.response_callbacks, transaction, shard_hint)


class TracedPipeline(Pipeline):
    """A pipeline measured as one round trip when it executes (its queued commands send nothing by themselves)."""

    def __init__(self, round_trips: RoundTrips, *args: Any) -> None:
        super().__init__(*args)
        self._round_trips = round_trips

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        with self._round_trips.measure("MULTI" if self.is_transaction else "PIPELINE", batch=len(self.command_stack)):
            return await super().execute(raise_on_error)


_STREAM_READS = frozenset({"XREAD", "XREADGROUP"})


def _blocks(args: tuple[Any, ...]) -> bool:
    """Whether a stream read waits on the server by design (`XREAD ... BLOCK ms`)."""
    return any(arg in (b"BLOCK", "BLOCK") for arg in args[1:])
