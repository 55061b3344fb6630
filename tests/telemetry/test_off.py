"""Telemetry off: nothing exported, nothing of the OpenTelemetry SDK imported, no span middleware in the chain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from mcp.server.mcpserver import MCPServer

from prynai_mcp import telemetry
from tests.support.server import running_server
from tests.telemetry.receiver import running_receiver
from tests.telemetry.wire import LegacySession, modern_request

ROOT = Path(__file__).resolve().parents[2]
# Set empty, the deciding variables count as unset whatever the machine running the tests has exported.
UNSET = {
    name: ""
    for name in (
        "OTEL_TRACES_EXPORTER",
        "OTEL_METRICS_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
    )
}


def exercise(url: str) -> None:
    """Both wires, a session opened and ended, a tool call on each."""
    with httpx2.Client(trust_env=False, timeout=30) as http:
        session = LegacySession(http, url)
        session.open("off-init")
        session.request("off-add", "tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}})
        session.close()
        modern_request(http, url, "off-echo", "tools/call", {"name": "echo", "arguments": {"text": "x"}})


@pytest.mark.parametrize(
    "switch",
    [{"OTEL_SDK_DISABLED": "true"}, {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}],
    ids=["sdk-disabled", "exporters-none"],
)
def test_switched_off_exports_nothing(switch: dict[str, str]) -> None:
    """An endpoint is configured, but telemetry is switched off: the receiver hears nothing, not even at shutdown."""
    with running_receiver() as receiver:
        env = {**UNSET, **receiver.otlp_env(), **switch, "PRYNAI_LOG_LEVEL": "DEBUG"}
        with running_server(env) as server:
            exercise(server.mcp_url)
            time.sleep(1.5)  # three metric intervals, fifteen span batches
        records = server.log_records()
        assert receiver.posts == []
    (line,) = [r for r in records if r.get("event") == "telemetry"]
    assert line["message"] == "telemetry off"
    assert not any("trace_id" in r for r in records)


def test_off_by_default_and_it_says_so() -> None:
    with running_server({**UNSET, "PRYNAI_LOG_LEVEL": "DEBUG"}) as server:
        exercise(server.mcp_url)
    (line,) = [r for r in server.log_records() if r.get("event") == "telemetry"]
    assert line["message"] == "telemetry off" and line["level"] == "debug"


def test_off_imports_no_opentelemetry_beyond_what_dependencies_import_themselves() -> None:
    """In a fresh interpreter: build the app, serve both wires, stop. Of OpenTelemetry, only what the MCP SDK and
    redis-py import by themselves is loaded (see off_probe.py): no tracing SDK, no exporter, no Azure Monitor, and
    nothing of `prynai_mcp.telemetry` but the switch and the plan."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_", "PRYNAI_", "REDIS_"))
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.telemetry.off_probe"],
        cwd=ROOT,
        env={**env, "PRYNAI_LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["enabled"] is False
    assert report["after"] == report["dependencies"], "the app imported OpenTelemetry modules its dependencies do not"
    assert not [
        m for m in report["after"] if m.startswith(("opentelemetry.sdk.trace", "opentelemetry.exporter", "azure"))
    ]
    assert report["ours"] == ["prynai_mcp.telemetry.plan"]


def test_the_sdks_span_middleware_is_dropped_while_off() -> None:
    """The SDK puts its span middleware first in every server's chain; off, it is taken out (it would start a
    no-op span per message for nothing)."""
    assert not telemetry.enabled()
    mcp: MCPServer[object] = MCPServer("probe")
    names = [type(layer).__name__ for layer in mcp.middleware]
    assert names[0] == "OpenTelemetryMiddleware"
    telemetry.instrument_server(mcp)
    assert [type(layer).__name__ for layer in mcp.middleware] == names[1:]
