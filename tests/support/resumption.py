"""Break a session-based request stream and resume it with Last-Event-ID (DESIGN.md contract 4): the checks that
run in one process (tests/feature) and across replicas (tests/sessions) alike."""

from __future__ import annotations

import httpx2

from tests.support.raw import RawSession, SseEvent, sse_events

STEPS = 6


async def start_and_break(session: RawSession, request_id: int, keep: int) -> list[SseEvent]:
    """Call long_task, read `keep` events that carry a message, then drop the connection."""
    kept: list[SseEvent] = []
    body = session.call(request_id, "long_task", {"steps": STEPS, "delay_seconds": 0.15})
    async with session.http.stream("POST", session.url(), json=body, headers=session.headers()) as response:
        assert response.status_code == 200
        async for event in sse_events(response):
            kept.append(event)
            if len([e for e in kept if e.data]) == keep:
                break
    return kept


async def resume(session: RawSession, last_event_id: str) -> list[SseEvent]:
    headers = session.headers(**{"Last-Event-ID": last_event_id, "Accept": "text/event-stream"})
    events: list[SseEvent] = []
    async with session.http.stream("GET", session.url(), headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        async for event in sse_events(response):
            events.append(event)
    return events


def progress_of(events: list[SseEvent]) -> list[float]:
    return [e.data["params"]["progress"] for e in events if e.data and e.data.get("method") == "notifications/progress"]


async def check_resumption(urls: list[str], http: httpx2.AsyncClient) -> None:
    session = RawSession(http, urls)
    await session.open()
    kept = await start_and_break(session, 11, keep=2)
    last = [e.id for e in kept if e.id][-1]
    assert last is not None
    resumed = await resume(session, last)

    seen = progress_of(kept) + progress_of(resumed)
    assert seen == list(range(1, STEPS + 1)), seen  # each step once, in order, nothing lost across the break
    final = [e.data for e in resumed if e.data and e.data.get("id") == 11]
    assert len(final) == 1 and final[0]["result"]["content"][0]["text"] == "done"
    assert resumed[-1].data == final[0]  # the resumed request stream ends with its response
    ids = [e.id for e in kept + resumed if e.id]
    assert len(ids) == len(set(ids))


async def check_sessions_do_not_mix(urls: list[str], http: httpx2.AsyncClient) -> None:
    first, second = RawSession(http, urls, label="first"), RawSession(http, urls, label="second")
    await first.open()
    await second.open()
    # Both sessions use request id 5 for calls that log different texts.
    kept_first = await start_and_break(first, 5, keep=1)
    kept_second = await start_and_break(second, 5, keep=1)
    resumed_first = await resume(first, [e.id for e in kept_first if e.id][-1])
    resumed_second = await resume(second, [e.id for e in kept_second if e.id][-1])
    for label, kept, resumed in (("first", kept_first, resumed_first), ("second", kept_second, resumed_second)):
        assert progress_of(kept) + progress_of(resumed) == list(range(1, STEPS + 1))
        tokens = {
            e.data["params"]["progressToken"]
            for e in kept + resumed
            if e.data and e.data.get("method") == "notifications/progress"
        }
        assert tokens == {f"{label}-5"}
