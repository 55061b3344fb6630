"""Telemetry on, over OTLP/HTTP: what a real server exports, decoded from the protobuf payloads it posts.

One server (in-memory backend) exports to a local receiver for the module; each test tells its own data apart by its
request ids, session id and trace ids. The span per request, its attributes after the OpenTelemetry MCP conventions,
the client's trace context continued, and the metrics with the conventions' names and attributes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import anyio
import httpx2
import pytest

from prynai_mcp.sampling import mock_sampler
from prynai_mcp.telemetry.instruments import OPERATION_BUCKETS
from tests.support.clients import client
from tests.support.server import RunningServer, running_server
from tests.telemetry.receiver import CLIENT, STATUS_ERROR, Receiver, Span, running_receiver
from tests.telemetry.wire import LEGACY, MODERN, LegacySession, modern_request, traceparent

SERVICE = "prynai-telemetry-test"
INVALID_PARAMS = "-32602"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def exporting(receiver: Receiver) -> Iterator[RunningServer]:
    with running_server(receiver.otlp_env(OTEL_SERVICE_NAME=SERVICE)) as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    with httpx2.Client(trust_env=False, timeout=30) as client:
        yield client


def test_one_server_span_per_request_on_the_session_based_wire(
    receiver: Receiver, exporting: RunningServer, http: httpx2.Client
) -> None:
    session = LegacySession(http, exporting.mcp_url)
    session_id = session.open("legacy-init")
    added = session.request("legacy-add", "tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}})
    assert added["result"]["content"][0]["text"] == "5"
    refused = session.request("legacy-bad", "prompts/get", {"name": "no_such_prompt", "arguments": {}})
    assert str(refused["error"]["code"]) == INVALID_PARAMS
    session.close()

    ids = ("legacy-init", "legacy-add", "legacy-bad")
    receiver.wait_for("the three server spans", lambda: all(receiver.server_spans(i) for i in ids))
    time.sleep(0.5)  # a duplicate (the SDK's own span beside ours) would arrive in the same batch or the next
    init, add, bad = (receiver.server_spans(i) for i in ids)
    assert len(init) == len(add) == len(bad) == 1, "exactly one SERVER span per request"
    (init_span,), (add_span,), (bad_span,) = init, add, bad

    assert init_span.name == "initialize"
    assert add_span.name == "tools/call add"
    assert bad_span.name == "prompts/get no_such_prompt"
    for span in (init_span, add_span, bad_span):
        assert span.attributes["mcp.session.id"] == session_id
        assert span.attributes["mcp.protocol.version"] == LEGACY
        assert span.attributes["network.transport"] == "tcp"
        assert span.scope == "prynai-mcp"
        assert span.resource["service.name"] == SERVICE
        assert span.resource["service.instance.id"]
    assert add_span.attributes["mcp.method.name"] == "tools/call"
    assert add_span.attributes["gen_ai.tool.name"] == "add"
    assert add_span.attributes["gen_ai.operation.name"] == "execute_tool"
    assert add_span.attributes["jsonrpc.request.id"] == "legacy-add"
    assert "error.type" not in add_span.attributes and add_span.status_code != STATUS_ERROR
    assert bad_span.attributes["gen_ai.prompt.name"] == "no_such_prompt"
    assert bad_span.attributes["error.type"] == INVALID_PARAMS
    assert bad_span.attributes["rpc.response.status_code"] == INVALID_PARAMS
    assert bad_span.status_code == STATUS_ERROR and bad_span.status_message

    # The notification got its span too; and nothing came from the SDK's own span middleware (it was replaced).
    initialized = [
        s
        for s in receiver.server_spans()
        if s.name == "notifications/initialized" and s.attributes.get("mcp.session.id") == session_id
    ]
    assert len(initialized) == 1 and "jsonrpc.request.id" not in initialized[0].attributes
    assert not [s for s in receiver.spans if s.scope == "mcp-python-sdk" and s.kind == 2]


def test_a_traceparent_in_meta_is_continued(receiver: Receiver, exporting: RunningServer, http: httpx2.Client) -> None:
    header, trace_id, parent_id = traceparent()
    other_header, other_trace, other_span = traceparent()
    session = LegacySession(http, exporting.mcp_url)
    session.open("meta-init")
    session.request(
        "meta-add",
        "tools/call",
        {"name": "add", "arguments": {"a": 1, "b": 1}},
        meta={"traceparent": header},
        traceparent=other_header,  # the HTTP request's context too: it becomes a link, not the parent
    )
    (span,) = receiver.wait_for("the call's span", lambda: receiver.server_spans("meta-add"))
    assert span.trace_id == trace_id
    assert span.parent_span_id == parent_id
    assert (other_trace, other_span) in span.links
    session.close()


def test_without_meta_the_http_traceparent_is_the_parent(
    receiver: Receiver, exporting: RunningServer, http: httpx2.Client
) -> None:
    header, trace_id, parent_id = traceparent()
    echoed = modern_request(
        http,
        exporting.mcp_url,
        "modern-echo",
        "tools/call",
        {"name": "echo", "arguments": {"text": "hi"}},
        traceparent=header,
    )
    assert echoed["result"]["content"][0]["text"] == "hi"
    (span,) = receiver.wait_for("the modern call's span", lambda: receiver.server_spans("modern-echo"))
    assert span.name == "tools/call echo"
    assert (span.trace_id, span.parent_span_id) == (trace_id, parent_id)
    assert span.attributes["mcp.protocol.version"] == MODERN
    assert "mcp.session.id" not in span.attributes  # the 2026-07-28 wire has no sessions
    assert span.links == []


def test_operation_duration_has_the_conventions_attributes(
    receiver: Receiver, exporting: RunningServer, http: httpx2.Client
) -> None:
    modern_request(http, exporting.mcp_url, "metric-add", "tools/call", {"name": "add", "arguments": {"a": 4, "b": 4}})
    modern_request(
        http, exporting.mcp_url, "metric-bad", "prompts/get", {"name": "no_such_prompt", "arguments": {}}, status=400
    )
    ok = receiver.wait_for(
        "a tools/call duration",
        lambda: receiver.latest(
            "mcp.server.operation.duration", **{"gen_ai.tool.name": "add", "mcp.protocol.version": MODERN}
        ),
    )
    assert ok.kind == "histogram" and ok.unit == "s" and ok.count >= 1 and ok.sum > 0
    assert ok.bounds == OPERATION_BUCKETS  # the conventions' advised buckets
    assert ok.attributes["mcp.method.name"] == "tools/call"
    assert ok.attributes["gen_ai.operation.name"] == "execute_tool"
    assert "error.type" not in ok.attributes
    failed = receiver.wait_for(
        "a failed prompts/get duration",
        lambda: receiver.latest(
            "mcp.server.operation.duration", **{"mcp.method.name": "prompts/get", "mcp.protocol.version": MODERN}
        ),
    )
    assert failed.attributes["error.type"] == failed.attributes["rpc.response.status_code"] == INVALID_PARAMS
    # What is unique to one message stays on its span: a metric attribute per session or request would be unbounded.
    for point in receiver.points:
        assert not {"mcp.session.id", "jsonrpc.request.id", "client.address"} & set(point.attributes)


def test_sessions_and_streams_are_counted_and_a_session_ends_with_its_duration(
    receiver: Receiver, exporting: RunningServer, http: httpx2.Client
) -> None:
    session = LegacySession(http, exporting.mcp_url)
    session.open("gauge-init")
    receiver.wait_for(
        "a session counted", lambda: (p := receiver.latest("prynai.mcp.sessions.active")) and p.value >= 1
    )

    # A GET stream stays open while the test holds it: the stream gauge says so, then goes back down.
    opened = threading.Event()
    release = threading.Event()

    def hold_stream() -> None:
        with (
            httpx2.Client(trust_env=False, timeout=30) as own,
            own.stream("GET", exporting.mcp_url, headers=session.headers(Accept="text/event-stream")) as stream,
        ):
            assert stream.status_code == 200
            opened.set()
            release.wait(20)

    holder = threading.Thread(target=hold_stream, daemon=True)
    holder.start()
    assert opened.wait(10)
    receiver.wait_for(
        "an open GET stream",
        lambda: (
            (p := receiver.latest("prynai.mcp.sse.active_streams", **{"http.request.method": "GET"})) and p.value >= 1
        ),
    )
    release.set()
    holder.join(10)
    receiver.wait_for(
        "the GET stream closed",
        lambda: (
            (p := receiver.latest("prynai.mcp.sse.active_streams", **{"http.request.method": "GET"})) and p.value == 0
        ),
    )

    before = receiver.latest("mcp.server.session.duration", **{"mcp.protocol.version": LEGACY})
    ended_before = before.count if before else 0
    held = time.monotonic()
    time.sleep(0.2)
    session.close()
    ended = receiver.wait_for(
        "a session duration",
        lambda: (
            (p := receiver.latest("mcp.server.session.duration", **{"mcp.protocol.version": LEGACY}))
            and p.count > ended_before
            and p
        ),
    )
    assert ended.unit == "s" and ended.sum >= 0.2 and ended.attributes["network.transport"] == "tcp"
    assert time.monotonic() - held < 30
    receiver.wait_for(
        "the session released", lambda: (p := receiver.latest("prynai.mcp.sessions.active")) and p.value == 0
    )


def test_log_lines_carry_the_trace_id(receiver: Receiver, exporting: RunningServer, http: httpx2.Client) -> None:
    header, trace_id, _ = traceparent()
    since = exporting.log_size()
    modern_request(
        http,
        exporting.mcp_url,
        "log-add",
        "tools/call",
        {"name": "add", "arguments": {"a": 1, "b": 2}},
        meta={"traceparent": header},
    )
    (span,) = receiver.wait_for("the call's span", lambda: receiver.server_spans("log-add"))
    (line,) = [r for r in exporting.log_records(since) if r.get("event") == "mcp" and r.get("method") == "tools/call"]
    assert line["trace_id"] == trace_id == span.trace_id
    assert line["span_id"] == span.span_id


async def test_the_sdks_span_for_a_sampling_request_is_a_child_of_the_call(
    receiver: Receiver, exporting: RunningServer
) -> None:
    """The SDK's own CLIENT span for a server->client request is kept (it is not a duplicate of ours): with our
    provider installed it lands in the call's trace, under the call's SERVER span."""
    async with client(exporting.mcp_url, "legacy", sampling_callback=mock_sampler) as mcp:
        result = await mcp.call_tool("summarize_via_client_llm", {"text": "spans"})
    assert result.content[0].text == "MOCK:spans"  # type: ignore[union-attr]

    def sampled() -> tuple[Span, Span] | None:
        calls = [s for s in receiver.server_spans() if s.name == "tools/call summarize_via_client_llm"]
        asks = [s for s in receiver.spans if s.kind == CLIENT and "sampling/createMessage" in s.name]
        pairs = [(c, a) for c in calls for a in asks if a.parent_span_id == c.span_id]
        return pairs[0] if pairs else None

    call, ask = await anyio.to_thread.run_sync(lambda: receiver.wait_for("the sampling span", sampled))
    assert ask.trace_id == call.trace_id and ask.scope == "mcp-python-sdk"
    assert ask.attributes["mcp.method.name"] == "sampling/createMessage"
    same_call = [
        s for s in receiver.server_spans() if s.attributes.get("mcp.session.id") == call.attributes["mcp.session.id"]
    ]
    assert [s.name for s in same_call].count("tools/call summarize_via_client_llm") == 1
