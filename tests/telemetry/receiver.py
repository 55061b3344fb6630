"""A local telemetry backend: OTLP/HTTP (`/v1/traces`, `/v1/metrics`) and Azure Monitor ingestion (`/v2.1/track`).

It decodes what the server really sends: the OTLP protobuf payloads (with the `opentelemetry-proto` classes the
exporter itself uses) and the Azure Monitor exporter's JSON envelopes, and keeps them flattened for assertions. It runs
under uvicorn on 127.0.0.1 in a background thread, for the block of `running_receiver()`.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.server import free_port

SERVER = 2  # opentelemetry.proto.trace.v1.Span.SpanKind
CLIENT = 3
STATUS_ERROR = 2


@dataclass
class Span:
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    status_code: int
    status_message: str
    links: list[tuple[str, str]]  # (trace id, span id)
    scope: str
    resource: dict[str, Any]


@dataclass
class Point:
    """One data point of one metric: `value` for sums and gauges; `count`, `sum`, `bounds` for histograms."""

    metric: str
    kind: str  # histogram, sum, gauge
    unit: str
    attributes: dict[str, Any]
    value: float = 0.0
    count: int = 0
    sum: float = 0.0
    bounds: list[float] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    pair: KeyValue
    for pair in pairs:
        found[pair.key] = _value(pair.value)
    return found


class Receiver:
    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.points: list[Point] = []
        self.envelopes: list[dict[str, Any]] = []  # Azure Monitor telemetry items
        self.posts: list[str] = []  # every path posted to, in order
        self._lock = threading.Lock()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def otlp_env(self, **extra: str) -> dict[str, str]:
        """Server settings exporting both signals here, quickly (spans within 0.1 s, metrics every 0.5 s)."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
            **extra,
        }

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/traces", self._traces, methods=["POST"]),
                Route("/v1/metrics", self._metrics, methods=["POST"]),
                # A connection string's IngestionEndpoint ends with "/", and the exporter appends "/v2.1/track".
                Route("/v2.1/track", self._track, methods=["POST"]),
                Route("//v2.1/track", self._track, methods=["POST"]),
            ]
        )

    async def _body(self, request: Request) -> bytes:
        body = await request.body()
        with self._lock:
            self.posts.append(request.url.path)
        return gzip.decompress(body) if request.headers.get("content-encoding") == "gzip" else body

    async def _traces(self, request: Request) -> Response:
        export = ExportTraceServiceRequest.FromString(await self._body(request))
        found = [
            Span(
                name=span.name,
                kind=span.kind,
                trace_id=span.trace_id.hex(),
                span_id=span.span_id.hex(),
                parent_span_id=span.parent_span_id.hex(),
                attributes=_attributes(span.attributes),
                status_code=span.status.code,
                status_message=span.status.message,
                links=[(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
                scope=scoped.scope.name,
                resource=_attributes(batch.resource.attributes),
            )
            for batch in export.resource_spans
            for scoped in batch.scope_spans
            for span in scoped.spans
        ]
        with self._lock:
            self.spans.extend(found)
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")

    async def _metrics(self, request: Request) -> Response:
        export = ExportMetricsServiceRequest.FromString(await self._body(request))
        found: list[Point] = []
        for batch in export.resource_metrics:
            resource = _attributes(batch.resource.attributes)
            for scoped in batch.scope_metrics:
                for metric in scoped.metrics:
                    kind = metric.WhichOneof("data")
                    if kind == "histogram":
                        for point in metric.histogram.data_points:
                            found.append(
                                Point(
                                    metric.name,
                                    kind,
                                    metric.unit,
                                    _attributes(point.attributes),
                                    count=point.count,
                                    sum=point.sum,
                                    bounds=list(point.explicit_bounds),
                                    resource=resource,
                                )
                            )
                    elif kind in ("sum", "gauge"):
                        for number in getattr(metric, kind).data_points:
                            value = number.as_double if number.WhichOneof("value") == "as_double" else number.as_int
                            found.append(
                                Point(
                                    metric.name,
                                    kind,
                                    metric.unit,
                                    _attributes(number.attributes),
                                    value=value,
                                    resource=resource,
                                )
                            )
        with self._lock:
            self.points.extend(found)
        return Response(ExportMetricsServiceResponse().SerializeToString(), media_type="application/x-protobuf")

    async def _track(self, request: Request) -> Response:
        items = json.loads(await self._body(request))
        items = items if isinstance(items, list) else [items]
        with self._lock:
            self.envelopes.extend(items)
        return JSONResponse({"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []})

    # --- reading what arrived -------------------------------------------------------------------------------------

    def wait_for(self, what: str, found: Callable[[], Any], timeout: float = 15.0) -> Any:
        """Poll `found()` until it is truthy; fail naming `what` (and what did arrive) after `timeout` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                result = found()
            if result:
                return result
            time.sleep(0.1)
        raise AssertionError(
            f"no {what} within {timeout}s; received {len(self.spans)} spans "
            f"({sorted({s.name for s in self.spans})}), metrics {sorted({p.metric for p in self.points})}, "
            f"{len(self.envelopes)} envelopes"
        )

    def server_spans(self, request_id: str | None = None) -> list[Span]:
        return [
            span
            for span in self.spans
            if span.kind == SERVER and (request_id is None or span.attributes.get("jsonrpc.request.id") == request_id)
        ]

    def latest(self, metric: str, **attributes: Any) -> Point | None:
        """The last exported point of `metric` whose attributes include `attributes` (cumulative: the running total)."""
        matching = [
            point
            for point in self.points
            if point.metric == metric and all(point.attributes.get(k) == v for k, v in attributes.items())
        ]
        return matching[-1] if matching else None


@contextlib.contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.port = free_port()
    config = uvicorn.Config(receiver.app(), host="127.0.0.1", port=receiver.port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="telemetry-receiver", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the telemetry receiver did not start")
        time.sleep(0.02)
    try:
        yield receiver
    finally:
        server.should_exit = True
        thread.join(10)
