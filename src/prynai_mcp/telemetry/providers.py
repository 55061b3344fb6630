"""The OpenTelemetry SDK set up from an `ExportPlan`: providers, exporters, the instruments (loaded only when on).

Spans leave through a `BatchSpanProcessor` per exporter (a background thread; `OTEL_BSP_*` tune it), metrics through
a `PeriodicExportingMetricReader` per exporter (`OTEL_METRIC_EXPORT_INTERVAL`, default 60 s). Both providers become
the process's global ones, so the MCP SDK's own CLIENT spans for server->client requests (sampling, elicitation)
land in the same traces, as children of the request that sent them. `shutdown()` flushes what is buffered.

The resource names the service (`service.name` from `OTEL_SERVICE_NAME`, else `prynai-mcp`), its version, the
environment (`PRYNAI_ENV`) and this process (`service.instance.id`: host name and process id, so replicas sharing a
host stay apart; Azure Monitor shows it as the role instance); `OTEL_RESOURCE_ATTRIBUTES` overrides any of them.
"""

from __future__ import annotations

import logging
import os
import socket
from importlib.metadata import version
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from opentelemetry.metrics import Meter, NoOpMeter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import NoOpTracer, Tracer

from prynai_mcp.config import Settings
from prynai_mcp.telemetry.instruments import Instruments
from prynai_mcp.telemetry.plan import AZURE_MONITOR, OTLP, ExportPlan

logger = logging.getLogger("prynai_mcp.telemetry")

SCOPE = "prynai-mcp"
VERSION = version("prynai-mcp")


class Telemetry:
    """What is exporting: the tracer and instruments the hooks use, and the providers to flush at the end."""

    def __init__(self, plan: ExportPlan, settings: Settings) -> None:
        resource = _resource(settings)
        self._tracer_provider: TracerProvider | None = None
        self._meter_provider: MeterProvider | None = None
        self.tracer: Tracer = NoOpTracer()
        self.azure_traces = AZURE_MONITOR in plan.traces
        meter: Meter = NoOpMeter(SCOPE)
        if plan.traces:
            self._tracer_provider = TracerProvider(resource=resource)
            for exporter in _span_exporters(plan):
                self._tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
            trace.set_tracer_provider(self._tracer_provider)
            self.tracer = self._tracer_provider.get_tracer(SCOPE, VERSION)
        if plan.metrics:
            readers: list[MetricReader] = [PeriodicExportingMetricReader(e) for e in _metric_exporters(plan)]
            self._meter_provider = MeterProvider(resource=resource, metric_readers=readers)
            metrics.set_meter_provider(self._meter_provider)
            meter = self._meter_provider.get_meter(SCOPE, VERSION)
        self.instruments = Instruments(meter)
        if AZURE_MONITOR in plan.traces + plan.metrics and logging.getLogger().level > logging.DEBUG:
            # azure-core logs every request it sends (headers and all) and the exporter every success, at INFO:
            # several multi-line lines per export. Their warnings and errors still come through.
            for name in ("azure.core.pipeline.policies.http_logging_policy", "azure.monitor.opentelemetry.exporter"):
                logging.getLogger(name).setLevel(logging.WARNING)
        logger.info(
            "telemetry on",
            extra={
                "event": "telemetry",
                "traces": list(plan.traces),
                "metrics": list(plan.metrics),
                "otlp_traces_endpoint": plan.otlp_traces_endpoint if OTLP in plan.traces else None,
                "otlp_metrics_endpoint": plan.otlp_metrics_endpoint if OTLP in plan.metrics else None,
                # The host only: the connection string's instrumentation key is not for logs.
                "azure_monitor_ingestion": _ingestion_host(plan.azure_connection_string),
                "service_name": resource.attributes.get("service.name"),
                "service_instance_id": resource.attributes.get("service.instance.id"),
            },
        )

    def shutdown(self) -> None:
        """Export what is buffered, then stop the exporters (blocking: run it off the event loop)."""
        if self._tracer_provider is not None:
            self._tracer_provider.shutdown()
        if self._meter_provider is not None:
            self._meter_provider.shutdown()


def _resource(settings: Settings) -> Resource:
    defaults = {
        "service.name": SCOPE,
        "service.version": VERSION,
        "service.instance.id": f"{socket.gethostname()}-{os.getpid()}",
        "deployment.environment.name": settings.prynai_env,
    }
    from_environment = OTELResourceDetector().detect().attributes  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    return Resource.create({key: value for key, value in defaults.items() if key not in from_environment})


def _span_exporters(plan: ExportPlan) -> list[SpanExporter]:
    exporters: list[SpanExporter] = []
    if OTLP in plan.traces:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporters.append(OTLPSpanExporter(endpoint=plan.otlp_traces_endpoint))
    if AZURE_MONITOR in plan.traces:
        from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter

        exporters.append(AzureMonitorTraceExporter(connection_string=plan.azure_connection_string))
    return exporters


def _metric_exporters(plan: ExportPlan) -> list[MetricExporter]:
    exporters: list[MetricExporter] = []
    if OTLP in plan.metrics:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        exporters.append(OTLPMetricExporter(endpoint=plan.otlp_metrics_endpoint))
    if AZURE_MONITOR in plan.metrics:
        from azure.monitor.opentelemetry.exporter import AzureMonitorMetricExporter

        exporters.append(AzureMonitorMetricExporter(connection_string=plan.azure_connection_string))
    return exporters


def _ingestion_host(connection_string: str) -> str | None:
    if not connection_string:
        return None
    for part in connection_string.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "ingestionendpoint":
            return urlsplit(value.strip()).netloc or None
    return "default"
