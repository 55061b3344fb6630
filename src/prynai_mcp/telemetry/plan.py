"""Which exporters the settings ask for, decided without importing OpenTelemetry.

Off unless asked: the OpenTelemetry SDK's own default (`OTEL_TRACES_EXPORTER=otlp` to localhost:4318) would make
every server export by default, so here a signal is exported only when a variable names where to:

- OTLP for a signal when `OTEL_<SIGNAL>_EXPORTER` lists `otlp`, or when it is unset and `OTEL_EXPORTER_OTLP_ENDPOINT`
  or `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT` is set (a traces endpoint alone does not turn metrics on);
- Azure Monitor for both signals when `APPLICATIONINSIGHTS_CONNECTION_STRING` is set;
- nothing for a signal whose exporter is `none`, and nothing at all with `OTEL_SDK_DISABLED=true`.

A value that cannot work (an exporter or protocol this server does not ship) raises `ValueError` naming the setting,
so `prynai-mcp serve` stops with one line instead of running without the telemetry someone asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from prynai_mcp.config import Settings

OTLP = "otlp"
AZURE_MONITOR = "azure_monitor"
# No console exporter: its multi-line JSON would break the one-object-per-line log on stdout.
_CHOICES = {OTLP}


@dataclass(frozen=True)
class ExportPlan:
    traces: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    # Full OTLP/HTTP URLs; None: the exporter's default (http://localhost:4318/v1/<signal>).
    otlp_traces_endpoint: str | None = None
    otlp_metrics_endpoint: str | None = None
    azure_connection_string: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.traces or self.metrics)


OFF = ExportPlan()


def plan_from(settings: Settings) -> ExportPlan:
    """The exporters `settings` ask for (`OFF` when none)."""
    if settings.otel_sdk_disabled:
        return OFF
    protocol = settings.otel_exporter_otlp_protocol.strip().lower()
    if protocol not in ("", "http/protobuf"):
        raise ValueError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not supported; this server exports OTLP over HTTP "
            "(http/protobuf)"
        )
    generic = settings.otel_exporter_otlp_endpoint.strip()
    traces_endpoint = settings.otel_exporter_otlp_traces_endpoint.strip()
    metrics_endpoint = settings.otel_exporter_otlp_metrics_endpoint.strip()
    azure = settings.applicationinsights_connection_string.strip()
    traces = _exporters("OTEL_TRACES_EXPORTER", settings.otel_traces_exporter, bool(generic or traces_endpoint), azure)
    metrics = _exporters(
        "OTEL_METRICS_EXPORTER", settings.otel_metrics_exporter, bool(generic or metrics_endpoint), azure
    )
    return ExportPlan(
        traces=traces,
        metrics=metrics,
        otlp_traces_endpoint=traces_endpoint or (_signal_url(generic, "traces") if generic else None),
        otlp_metrics_endpoint=metrics_endpoint or (_signal_url(generic, "metrics") if generic else None),
        azure_connection_string=azure,
    )


def _exporters(name: str, value: str, endpoint_set: bool, azure: str) -> tuple[str, ...]:
    chosen = [part.strip().lower() for part in value.split(",") if part.strip()]
    if "none" in chosen:
        return ()
    unknown = [part for part in chosen if part not in _CHOICES]
    if unknown:
        raise ValueError(f"{name}: {', '.join(unknown)} is not supported; use otlp or none")
    if not chosen and endpoint_set:
        chosen = [OTLP]
    if azure:
        chosen.append(AZURE_MONITOR)
    return tuple(dict.fromkeys(chosen))


def _signal_url(base: str, signal: str) -> str:
    """`OTEL_EXPORTER_OTLP_ENDPOINT` is a base URL: each signal is posted under `v1/<signal>` (the OTLP spec)."""
    return f"{base.rstrip('/')}/v1/{signal}"
