"""Telemetry with Redis: a child span per Redis round trip under the request that made it, Redis latency, and the
requests a dead replica left behind, counted where the client resumed them."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import anyio
import httpx2
import pytest

from tests.support.raw import RawSession, sse_events
from tests.support.redis import RedisServer, running_redis
from tests.support.replicas import running_replicas
from tests.support.server import running_server
from tests.telemetry.receiver import CLIENT, Receiver, running_receiver
from tests.telemetry.wire import LegacySession, traceparent

INTERRUPTED = -32054
LEASE_SECONDS = 1.5


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


def test_redis_round_trips_are_child_spans_of_the_request(receiver: Receiver, redis: RedisServer) -> None:
    header, trace_id, _ = traceparent()
    with (
        running_server({"REDIS_URL": redis.url(), **receiver.otlp_env()}) as server,
        httpx2.Client(trust_env=False, timeout=30) as http,
    ):
        session = LegacySession(http, server.mcp_url)
        session.open("redis-init")
        bumped = session.request(
            "redis-bump", "tools/call", {"name": "bump_counter", "arguments": {"by": 1}}, meta={"traceparent": header}
        )
        assert "result" in bumped, bumped
        (call,) = receiver.wait_for("the bump's span", lambda: receiver.server_spans("redis-bump"))
        children = receiver.wait_for(
            "Redis spans under the bump",
            lambda: [s for s in receiver.spans if s.kind == CLIENT and s.parent_span_id == call.span_id],
        )
        receiver.wait_for(
            "Redis latency",
            lambda: receiver.latest("db.client.operation.duration", **{"db.operation.name": "INCRBY"}),
        )
        session.close()

    assert call.trace_id == trace_id
    operations = {span.attributes["db.operation.name"] for span in children}
    assert "INCRBY" in operations  # the counter itself
    for span in children:
        assert span.trace_id == trace_id
        assert span.name == span.attributes["db.operation.name"]
        assert span.attributes["db.system.name"] == "redis"
        assert span.attributes["server.address"] == "127.0.0.1"
        assert span.attributes["server.port"] == redis.port
        assert span.attributes["db.namespace"] == "0"
    # Background work (heartbeats, health probes, stream polling) is measured, never a trace of its own.
    redis_spans = [s for s in receiver.spans if s.attributes.get("db.system.name") == "redis"]
    assert redis_spans and all(s.parent_span_id for s in redis_spans)
    latency = receiver.latest("db.client.operation.duration", **{"db.operation.name": "INCRBY"})
    assert latency is not None and latency.unit == "s" and latency.count >= 1
    assert latency.attributes["db.system.name"] == "redis" and "error.type" not in latency.attributes


async def test_a_request_lost_with_its_replica_is_counted_interrupted(receiver: Receiver) -> None:
    """The replica running a request is SIGKILLed; the survivor answers the resumed stream -32054 and counts it."""
    with running_redis() as own:
        env = {"PRYNAI_REPLICA_LEASE_SECONDS": str(LEASE_SECONDS), **receiver.otlp_env()}
        with running_replicas(2, own.url(), env=env) as replicas:
            async with httpx2.AsyncClient(trust_env=False, timeout=30) as http:
                session = RawSession(http, [replicas[0].mcp_url, replicas[1].mcp_url])
                await session.open()
                body = session.call(4, "long_task", {"steps": 1, "delay_seconds": 30})
                assert session.url() == replicas[0].mcp_url
                async with http.stream("POST", replicas[0].mcp_url, json=body, headers=session.headers()) as response:
                    with anyio.fail_after(10):
                        priming = await anext(sse_events(response))
                assert priming.id
                replicas[0].stop(signal.SIGKILL)
                headers = session.headers(**{"Last-Event-ID": priming.id, "Accept": "text/event-stream"})
                with anyio.fail_after(LEASE_SECONDS + 6):
                    async with http.stream("GET", replicas[1].mcp_url, headers=headers) as resumed:
                        events = [event async for event in sse_events(resumed)]
            (answer,) = [e.data for e in events if e.data]
            assert answer["error"]["code"] == INTERRUPTED
            counted = await anyio.to_thread.run_sync(
                lambda: receiver.wait_for(
                    "an interrupted request counted",
                    lambda: (p := receiver.latest("prynai.mcp.requests.interrupted")) and p.value >= 1 and p,
                )
            )
    assert counted.kind == "sum" and counted.value == 1
