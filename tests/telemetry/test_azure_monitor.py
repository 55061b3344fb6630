"""Telemetry to Azure Monitor: `APPLICATIONINSIGHTS_CONNECTION_STRING` pointed at a local ingestion endpoint.

The Azure Monitor exporter posts JSON envelopes to `{IngestionEndpoint}/v2.1/track`: a SERVER span becomes a
`Request` item (the `requests` table), a Redis span a `RemoteDependency`, a metric a `Metric` item
(`customMetrics`). The exporter's own usage statistics and remote configuration are switched off for the test (they
would go to Microsoft's endpoints), and its retry storage goes to the test's temporary directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2

from tests.support.redis import running_redis
from tests.support.server import running_server
from tests.telemetry.receiver import Receiver, running_receiver
from tests.telemetry.wire import LEGACY, LegacySession, traceparent

KEY = "00000000-0000-0000-0000-000000000000"


def azure_env(receiver: Receiver, tmp_path: Path) -> dict[str, str]:
    return {
        "APPLICATIONINSIGHTS_CONNECTION_STRING": f"InstrumentationKey={KEY};IngestionEndpoint={receiver.url}/",
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
        "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
        "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
        "TMPDIR": str(tmp_path),
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
        "OTEL_SERVICE_NAME": "prynai-aca-test",
    }


def items(receiver: Receiver, kind: str) -> list[dict[str, Any]]:
    return [e for e in receiver.envelopes if e.get("name") == f"Microsoft.ApplicationInsights.{kind}"]


def test_requests_dependencies_and_metrics_reach_application_insights(tmp_path: Path) -> None:
    header, trace_id, parent_id = traceparent()
    with running_receiver() as receiver, running_redis() as redis:
        env = {"REDIS_URL": redis.url(), **azure_env(receiver, tmp_path)}
        with running_server(env) as server, httpx2.Client(trust_env=False, timeout=30) as http:
            session = LegacySession(http, server.mcp_url)
            session_id = session.open("az-init")
            session.request(
                "az-bump", "tools/call", {"name": "bump_counter", "arguments": {"by": 2}}, meta={"traceparent": header}
            )
            session.request("az-bad", "prompts/get", {"name": "no_such_prompt", "arguments": {}})
            session.close()
            (failed,) = receiver.wait_for(
                "the failed prompt as a Request item",
                lambda: [
                    e
                    for e in items(receiver, "Request")
                    if e["data"]["baseData"]["properties"].get("jsonrpc.request.id") == "az-bad"
                ],
            )
            (request,) = receiver.wait_for(
                "the call as a Request item",
                lambda: [
                    e
                    for e in items(receiver, "Request")
                    if e["data"]["baseData"]["properties"].get("jsonrpc.request.id") == "az-bump"
                ],
            )
            dependencies = receiver.wait_for(
                "its Redis round trips as RemoteDependency items",
                lambda: [
                    e for e in items(receiver, "RemoteDependency") if e["tags"].get("ai.operation.id") == trace_id
                ],
            )
            names = receiver.wait_for(
                "the MCP metrics",
                lambda: (
                    {
                        m["name"]
                        for e in items(receiver, "Metric")
                        for m in e["data"]["baseData"]["metrics"]
                        if m["name"] in ("mcp.server.operation.duration", "mcp.server.session.duration")
                    }
                    == {"mcp.server.operation.duration", "mcp.server.session.duration"}
                ),
            )
            assert names
        assert receiver.posts and set(receiver.posts) <= {"/v2.1/track", "//v2.1/track"}

    data = request["data"]["baseData"]
    assert request["iKey"] == KEY
    assert data["name"] == "tools/call bump_counter" and data["success"] is True
    assert request["tags"]["ai.operation.id"] == trace_id  # the client's trace, continued
    assert request["tags"]["ai.operation.parentId"] == parent_id
    assert request["tags"]["ai.cloud.role"] == "prynai-aca-test"
    assert request["tags"]["ai.cloud.roleInstance"]
    properties = data["properties"]
    assert properties["mcp.method.name"] == "tools/call"
    assert properties["gen_ai.tool.name"] == "bump_counter"
    assert properties["mcp.session.id"] == session_id
    assert properties["mcp.protocol.version"] == LEGACY
    # The exporter keeps `error.type` out of customDimensions; our copy of it is there.
    assert failed["data"]["baseData"]["success"] is False
    assert failed["data"]["baseData"]["properties"]["prynai.error.type"] == "-32602"
    assert "prynai.error.type" not in properties
    for dependency in dependencies:
        assert dependency["data"]["baseData"]["type"] == "redis"
        assert dependency["tags"]["ai.operation.parentId"] == data["id"]
    assert "INCRBY" in {d["data"]["baseData"]["name"] for d in dependencies}
