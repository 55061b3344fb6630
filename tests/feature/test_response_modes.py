"""How a session-based request is answered: one JSON body when its answer comes first and soon, an SSE stream when
it sends anything else first or stays silent past PRYNAI_SSE_AFTER_MS, and a silent request's stream is resumable
from its priming event."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from tests.support.clients import client
from tests.support.raw import RawSession, SseEvent, sse_events
from tests.support.server import RunningServer, running_server


@pytest.fixture(scope="module")
def always_streaming() -> Iterator[RunningServer]:
    with running_server({"PRYNAI_SSE_AFTER_MS": "0"}) as running:
        yield running


async def post(session: RawSession, body: dict[str, object]) -> tuple[httpx2.Response, list[SseEvent]]:
    async with session.http.stream("POST", session.url(), json=body, headers=session.headers()) as response:
        if response.headers["content-type"].startswith("text/event-stream"):
            return response, [event async for event in sse_events(response)]
        await response.aread()
        return response, []


async def test_a_quick_answer_is_one_json_body(server: RunningServer, http: httpx2.AsyncClient) -> None:
    session = RawSession(http, [server.mcp_url])
    await session.open()
    response, _ = await post(session, session.call(7, "add", {"a": 2, "b": 3}))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["mcp-session-id"] == session.session_id
    assert response.json()["id"] == 7
    assert response.json()["result"]["structuredContent"] == {"result": 5}


async def test_progress_before_the_answer_makes_a_stream(server: RunningServer, http: httpx2.AsyncClient) -> None:
    session = RawSession(http, [server.mcp_url])
    await session.open()
    response, events = await post(session, session.call(8, "long_task", {"steps": 2, "delay_seconds": 0.01}))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    methods = [e.data.get("method") for e in events if e.data]
    assert methods == ["notifications/progress", "notifications/message"] * 2 + [None]
    assert all(e.id for e in events), "every event carries an id to resume from"
    assert events[-1].data is not None and events[-1].data["result"]["content"][0]["text"] == "done"


async def test_a_silent_request_gets_a_priming_event_and_resumes(
    server: RunningServer, http: httpx2.AsyncClient
) -> None:
    session = RawSession(http, [server.mcp_url])
    await session.open()
    body = session.call(9, "long_task", {"steps": 1, "delay_seconds": 1.0})
    async with http.stream("POST", session.url(), json=body, headers=session.headers()) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        priming = await anext(sse_events(response))  # then the client goes away, as a broken connection would
    assert priming.data is None and priming.id and priming.retry == 1000

    headers = session.headers(**{"Last-Event-ID": priming.id, "Accept": "text/event-stream"})
    async with http.stream("GET", session.url(), headers=headers) as resumed:
        events = [event async for event in sse_events(resumed)]
    messages = [e.data for e in events if e.data]
    assert [m.get("method") for m in messages] == ["notifications/progress", "notifications/message", None]
    assert messages[-1]["id"] == 9 and messages[-1]["result"]["content"][0]["text"] == "done"


async def test_sse_after_zero_streams_every_request(always_streaming: RunningServer, http: httpx2.AsyncClient) -> None:
    session = RawSession(http, [always_streaming.mcp_url])
    await session.open()
    response, events = await post(session, session.call(3, "add", {"a": 1, "b": 1}))
    assert response.headers["content-type"].startswith("text/event-stream")
    assert events[0].data is None and events[0].id, "a priming event first"
    assert events[-1].data is not None and events[-1].data["result"]["structuredContent"] == {"result": 2}


@pytest.mark.parametrize("sse_after", ["default", "zero"])
async def test_the_sdk_client_is_served_either_way(
    sse_after: str, server: RunningServer, always_streaming: RunningServer
) -> None:
    target = server if sse_after == "default" else always_streaming
    async with client(target.mcp_url, "legacy") as mcp:
        assert (await mcp.call_tool("add", {"a": 40, "b": 2})).structured_content == {"result": 42}
        seen: list[float] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append(progress)

        result = await mcp.call_tool("long_task", {"steps": 3, "delay_seconds": 0.01}, progress_callback=on_progress)
        assert result.content[0].text == "done"  # type: ignore[union-attr]
        assert seen == [1, 2, 3]
