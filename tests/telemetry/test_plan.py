"""Which settings turn telemetry on, and for which signals; and a setting that cannot work stops the server."""

from __future__ import annotations

import subprocess
import sys

import pytest

from prynai_mcp.config import Settings
from prynai_mcp.telemetry.plan import OFF, ExportPlan, plan_from


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test passes counts: none of the deciding variables from the machine's environment."""
    for name in Settings.model_fields:
        if name.startswith(("otel_", "applicationinsights_")):
            monkeypatch.delenv(name.upper(), raising=False)


def plan(**settings: str) -> ExportPlan:
    return plan_from(Settings(_env_file=None, **settings))  # type: ignore[arg-type]


def test_off_by_default_even_with_other_otel_settings() -> None:
    assert plan() == OFF
    assert not plan(otel_traces_exporter="", otel_exporter_otlp_protocol="http/protobuf").enabled


def test_an_otlp_endpoint_turns_both_signals_on() -> None:
    on = plan(otel_exporter_otlp_endpoint="http://collector:4318/")
    assert on.traces == ("otlp",) and on.metrics == ("otlp",)
    assert on.otlp_traces_endpoint == "http://collector:4318/v1/traces"
    assert on.otlp_metrics_endpoint == "http://collector:4318/v1/metrics"


def test_a_signal_endpoint_turns_on_that_signal_only() -> None:
    traces_only = plan(otel_exporter_otlp_traces_endpoint="http://collector:4318/v1/traces")
    assert traces_only.traces == ("otlp",) and traces_only.metrics == ()
    assert traces_only.otlp_traces_endpoint == "http://collector:4318/v1/traces"


def test_naming_the_exporter_turns_it_on_with_the_default_endpoint() -> None:
    on = plan(otel_metrics_exporter="otlp")
    assert on.traces == () and on.metrics == ("otlp",) and on.otlp_metrics_endpoint is None


def test_none_switches_a_signal_off_and_sdk_disabled_everything() -> None:
    endpoint = {"otel_exporter_otlp_endpoint": "http://collector:4318"}
    assert plan(otel_traces_exporter="none", **endpoint).traces == ()
    assert plan(otel_traces_exporter="none", **endpoint).metrics == ("otlp",)
    assert (
        plan(otel_sdk_disabled="true", applicationinsights_connection_string="InstrumentationKey=x", **endpoint) == OFF
    )


def test_a_connection_string_adds_azure_monitor_to_both_signals() -> None:
    both = plan(applicationinsights_connection_string="InstrumentationKey=x", otel_exporter_otlp_endpoint="http://c")
    assert both.traces == ("otlp", "azure_monitor") and both.metrics == ("otlp", "azure_monitor")
    assert (
        plan(applicationinsights_connection_string="InstrumentationKey=x", otel_metrics_exporter="none").metrics == ()
    )


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"otel_traces_exporter": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        ({"otel_metrics_exporter": "prometheus"}, "OTEL_METRICS_EXPORTER"),
        (
            {"otel_exporter_otlp_protocol": "grpc", "otel_exporter_otlp_endpoint": "http://c"},
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
    ],
)
def test_what_cannot_work_is_refused_by_name(settings: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        plan(**settings)


def test_the_server_stops_with_one_line_on_an_unsupported_exporter() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "prynai_mcp.cli", "serve", "--port", "9"],
        env={"PATH": "/usr/bin:/bin", "OTEL_TRACES_EXPORTER": "zipkin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: OTEL_TRACES_EXPORTER: zipkin is not supported; use otlp or none"
    ]
