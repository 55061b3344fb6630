"""The Redis event log as configured (PRYNAI_EVENT_LOG_MAX_EVENTS, PRYNAI_EVENT_LOG_SECONDS): what an operator finds
in Redis, and what a client resuming on another replica gets back."""

from __future__ import annotations

import httpx2

from tests.support.raw import RawSession, SseEvent, sse_events
from tests.support.redis import RedisServer
from tests.support.replicas import running_replicas

MAX_EVENTS = 3
RETENTION = 30
STEPS = 150  # 301 events, far past the cap


async def test_a_stream_keeps_its_newest_events_for_the_configured_time(
    redis: RedisServer, http: httpx2.AsyncClient
) -> None:
    env = {
        "PRYNAI_EVENT_LOG_MAX_EVENTS": str(MAX_EVENTS),
        "PRYNAI_EVENT_LOG_SECONDS": str(RETENTION),
        "PRYNAI_REDIS_PREFIX": "event-log-test",
    }
    with running_replicas(2, redis.url(), env=env) as replicas:
        session = RawSession(http, [replicas[0].mcp_url, replicas[1].mcp_url])
        sid = await session.open()
        events: list[SseEvent] = []
        call = session.call(4, "long_task", {"steps": STEPS, "delay_seconds": 0})
        async with http.stream("POST", replicas[0].mcp_url, json=call, headers=session.headers()) as response:
            events = [event async for event in sse_events(response)]  # to the end: the request is done
        ids = [event.id for event in events if event.id]
        assert len(ids) == 2 * STEPS + 1, len(ids)  # a progress notification and a log line a step, the result

        store = redis.client()
        key = f"event-log-test:session:{sid}:stream:4"
        assert 0 < store.ttl(key) <= RETENTION
        # Trimmed exactly: the newest events, as many as the cap.
        kept = store.xlen(key)
        assert kept == MAX_EVENTS, kept
        headers = session.headers(**{"Accept": "text/event-stream", "Last-Event-ID": ids[0]})
        async with http.stream("GET", replicas[1].mcp_url, headers=headers) as replay:
            replayed = [event async for event in sse_events(replay)]
        # What a late resume gets back: the newest events, in order, ending with the result.
        assert [event.id for event in replayed] == ids[-kept:]
        assert replayed[-1].data is not None and replayed[-1].data["result"]["content"][0]["text"] == "done"
