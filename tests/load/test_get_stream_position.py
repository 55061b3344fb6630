"""A GET stream cut before its first notification resumes without losing what came meanwhile (found by the load test).

A session's GET stream is killed with its replica (SIGKILL) before it delivered any event. A client resumes a
stream from the last event id it holds; if the stream had given it none, it can only open a new one, which starts
"from now", and every notification appended while it was away would be lost. So the stream's first event carries
its position (an id and no data), and the client resumes from there on any replica: DESIGN.md contracts 3 and 5.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import anyio
import httpx2
import pytest

from tests.support.raw import PROTOCOL, RawSession, sse_events
from tests.support.redis import running_redis
from tests.support.replicas import Replicas, running_replicas

COUNTER = "prynai://counter"


@pytest.fixture
def replicas() -> Iterator[Replicas]:
    with running_redis() as redis, running_replicas(2, redis.url()) as started:
        yield started


def stream_headers(session_id: str, last_event_id: str | None) -> dict[str, str]:
    headers = {"Accept": "text/event-stream", "Mcp-Protocol-Version": PROTOCOL, "Mcp-Session-Id": session_id}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    return headers


async def bump(http: httpx2.AsyncClient, session: RawSession, url: str, request_id: int) -> None:
    response = await http.post(url, json=session.call(request_id, "bump_counter", {}), headers=session.headers())
    assert response.status_code == 200, response.text


async def test_a_stream_cut_before_its_first_event_misses_nothing(replicas: Replicas) -> None:
    a, b = replicas[0], replicas[1]
    async with httpx2.AsyncClient(trust_env=False, timeout=10) as http:
        session = RawSession(http, [a.mcp_url])
        session_id = await session.open()
        last_event_id: str | None = None
        # The GET stream on A, then the subscription: from now on every bump is owed to this stream.
        async with http.stream("GET", a.mcp_url, headers=stream_headers(session_id, None)) as stream:
            assert stream.status_code == 200
            subscribe = {"jsonrpc": "2.0", "id": 1, "method": "resources/subscribe", "params": {"uri": COUNTER}}
            answer = await http.post(a.mcp_url, json=subscribe, headers=session.headers())
            assert answer.status_code == 200, answer.text
            events = sse_events(stream)
            with anyio.move_on_after(1.0):  # whatever A sends before it dies (no notification is due yet)
                async for event in events:
                    assert event.data is None, event
                    last_event_id = event.id
            a.stop(signal.SIGKILL)
        # While no stream is open, a bump on B owes the session a notification: it waits in the shared event log.
        await bump(http, session, b.mcp_url, 2)
        # The client comes back with what it holds; then one more bump.
        async with http.stream("GET", b.mcp_url, headers=stream_headers(session_id, last_event_id)) as stream:
            assert stream.status_code == 200
            await bump(http, session, b.mcp_url, 3)
            received = 0
            with anyio.move_on_after(5.0):
                async for event in sse_events(stream):
                    if event.data and event.data.get("method") == "notifications/resources/updated":
                        received += 1
                        if received == 2:
                            break
        assert received == 2, f"{2 - received} notification(s) lost across the cut (resumed from {last_event_id})"
