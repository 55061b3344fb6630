"""Open streams cost Redis nothing while they wait: a replica's streams share one wake-up listener instead of each
holding a pooled connection in a blocking read, so a small connection budget (PRYNAI_REDIS_MAX_CONNECTIONS) serves
many more waiting streams than it has connections, and a change still reaches every one of them on every replica.

What the event log holds is bounded in bytes too (PRYNAI_EVENT_LOG_MAX_STREAM_BYTES, ..._MAX_SESSION_BYTES), on
either backend: a client resuming sees the newest events within the bound, and streams evicted whole answer 400.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import anyio
import httpx2
import pytest

from tests.support.backends import BACKENDS, serving_on
from tests.support.raw import RawSession, SseEvent, sse_events
from tests.support.redis import RedisServer, running_redis
from tests.support.replicas import running_replicas

POOL = 8
SESSIONS = 12
STREAMS_PER_SESSION = 4  # 48 waiting streams: six times the pool


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    limits = httpx2.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx2.AsyncClient(trust_env=False, timeout=15, limits=limits) as client:
        yield client


def redis_clients(redis: RedisServer) -> int:
    with redis.client() as raw:
        return len(raw.client_list()) - 1  # less this probe's own


async def test_waiting_streams_hold_no_redis_connection_and_all_hear_a_change(http: httpx2.AsyncClient) -> None:
    env = {"PRYNAI_REDIS_MAX_CONNECTIONS": str(POOL), "PRYNAI_MAX_STREAMS_PER_SESSION": str(STREAMS_PER_SESSION)}
    with running_redis() as redis, running_replicas(2, redis.url(), env) as replicas:
        urls = [replica.mcp_url for replica in replicas]
        sessions = [RawSession(http, urls) for _ in range(SESSIONS)]
        for session in sessions:
            await session.open()
            body = {"jsonrpc": "2.0", "id": 1, "method": "resources/subscribe", "params": {"uri": "prynai://counter"}}
            answer = await http.post(session.url(), json=body, headers=session.headers())
            assert answer.status_code == 200, answer.text

        heard: list[SseEvent] = []
        opened = 0
        all_open = anyio.Event()

        async def listen(session: RawSession) -> None:
            nonlocal opened
            headers = session.headers(Accept="text/event-stream")
            async with http.stream("GET", session.url(), headers=headers) as stream:
                assert stream.status_code == 200, await stream.aread()
                opened += 1
                if opened == SESSIONS * STREAMS_PER_SESSION:
                    all_open.set()
                async for event in sse_events(stream):
                    if event.data and event.data.get("method") == "notifications/resources/updated":
                        heard.append(event)
                        return

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tasks:
                for session in sessions:
                    for _ in range(STREAMS_PER_SESSION):
                        tasks.start_soon(listen, session)
                await all_open.wait()
                await anyio.sleep(1)  # every stream past its first read, waiting
                # Two replicas, each within its budget: a stream waiting in a blocking read would need its own.
                assert redis_clients(redis) <= 2 * POOL
                # The replicas still serve new requests: the waiting streams took none of their connections.
                caller = RawSession(http, urls)
                await caller.open()
                bump = await http.post(
                    caller.url(), json=caller.call(2, "bump_counter", {"by": 1}), headers=caller.headers()
                )
                assert bump.status_code == 200, bump.text
        # The change reached every waiting stream, on both replicas.
        assert len(heard) == SESSIONS * STREAMS_PER_SESSION
        assert {event.data["params"]["uri"] for event in heard if event.data} == {"prynai://counter"}


# --- bytes held ---------------------------------------------------------------------------------------------------

STREAM_BYTES = 2000
SESSION_BYTES = 5000
BYTE_LIMITS = {
    "PRYNAI_EVENT_LOG_MAX_STREAM_BYTES": str(STREAM_BYTES),
    "PRYNAI_EVENT_LOG_MAX_SESSION_BYTES": str(SESSION_BYTES),
}


@pytest.fixture(scope="module", params=BACKENDS)
def urls(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    with serving_on(request.param, BYTE_LIMITS) as found:
        yield found


async def streamed_call(session: RawSession, request_id: int) -> list[SseEvent]:
    body = session.call(request_id, "long_task", {"steps": 30, "delay_seconds": 0})
    async with session.http.stream("POST", session.url(), json=body, headers=session.headers()) as response:
        events = [event async for event in sse_events(response)]
    assert events and events[-1].data and events[-1].data.get("id") == request_id
    return events


async def resume(session: RawSession, last_event_id: str) -> tuple[int, list[SseEvent]]:
    headers = session.headers(Accept="text/event-stream", **{"Last-Event-ID": last_event_id})
    with anyio.fail_after(15):
        async with session.http.stream("GET", session.url(), headers=headers) as response:
            if response.status_code != 200:
                return response.status_code, []
            return 200, [event async for event in sse_events(response)]


def stored_bytes(events: list[SseEvent]) -> int:
    return sum(len(json.dumps(event.data, separators=(",", ":")).encode()) for event in events if event.data)


async def test_a_stream_keeps_its_newest_events_within_its_bytes(urls: list[str], http: httpx2.AsyncClient) -> None:
    session = RawSession(http, urls)
    await session.open()
    sent = await streamed_call(session, 3)
    assert stored_bytes(sent) > 3 * STREAM_BYTES  # sixty-one events of a few hundred bytes
    first = next(event.id for event in sent if event.id)
    status, replayed = await resume(session, first)
    assert status == 200
    # The newest events, in order, ending with the result, and no more bytes of them than the bound.
    assert 0 < stored_bytes(replayed) <= STREAM_BYTES
    ids = [event.id for event in sent if event.data]
    assert [event.id for event in replayed] == ids[-len(replayed) :]
    assert replayed[-1].data is not None and replayed[-1].data["result"]["content"][0]["text"] == "done"


async def test_a_session_past_its_bytes_loses_whole_streams_never_the_newest(
    urls: list[str], http: httpx2.AsyncClient
) -> None:
    session = RawSession(http, urls)
    await session.open()
    calls = {request_id: await streamed_call(session, request_id) for request_id in range(10, 15)}
    kept_bytes = 0
    evicted = 0
    for request_id, sent in calls.items():
        first = next(event.id for event in sent if event.id)
        status, replayed = await resume(session, first)
        if status == 400:
            evicted += 1
            continue
        assert status == 200
        kept_bytes += stored_bytes(replayed)
        if request_id == 14:
            assert replayed and replayed[-1].data and replayed[-1].data.get("id") == 14
    # Five streams of up to 2000 bytes each in a 5000-byte session: some went, whole, and the newest stayed.
    assert evicted >= 2
    assert kept_bytes <= SESSION_BYTES
    status, _ = await resume(session, next(event.id for event in calls[14] if event.id))
    assert status == 200


# --- keeping quiet streams alive ----------------------------------------------------------------------------------

KEEPALIVE = 0.5
QUIET_SESSIONS = 3
LIVELY = {
    "PRYNAI_SSE_KEEPALIVE_SECONDS": str(KEEPALIVE),
    "PRYNAI_SESSION_IDLE_SECONDS": "3",  # shorter than the quiet spell below: only the open streams keep it alive
    "PRYNAI_REPLICA_LEASE_SECONDS": "1",  # a stream's slot lease: 3 keep-alives + this = 2.5 s, also shorter
    "PRYNAI_MAX_STREAMS_PER_SESSION": str(STREAMS_PER_SESSION),
}


def command_calls(redis: RedisServer) -> dict[str, int]:
    with redis.client() as raw:
        stats = raw.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(figures["calls"]) for name, figures in stats.items()}


async def test_quiet_streams_are_kept_alive_per_session_not_per_stream(http: httpx2.AsyncClient) -> None:
    """Twelve GET streams of three sessions, quiet for longer than the session idle timeout and the streams' slot
    leases: every stream hears its keep-alives, every session and slot lives on, and Redis sees one renewal per
    session and keep-alive, none per stream (no read at all while nothing comes)."""
    with running_redis() as redis, running_replicas(1, redis.url(), LIVELY) as replicas:
        url = replicas[0].mcp_url
        sessions = [RawSession(http, [url]) for _ in range(QUIET_SESSIONS)]
        for session in sessions:
            await session.open()
        keepalives: list[int] = []
        ended: list[int] = []
        all_open = anyio.Event()
        quiet_over = anyio.Event()
        one_ended = anyio.Event()

        async def listen(index: int, session: RawSession) -> None:
            async with http.stream("GET", url, headers=session.headers(Accept="text/event-stream")) as stream:
                assert stream.status_code == 200, await stream.aread()
                keepalives.append(0)
                if len(keepalives) == QUIET_SESSIONS * STREAMS_PER_SESSION:
                    all_open.set()
                slot = len(keepalives) - 1
                async for line in stream.aiter_lines():
                    if line == ": keepalive" and not quiet_over.is_set():
                        keepalives[slot] += 1
            ended.append(index)
            if len(ended) == STREAMS_PER_SESSION:
                one_ended.set()

        async with anyio.create_task_group() as tasks:
            for index, session in enumerate(sessions):
                for _ in range(STREAMS_PER_SESSION):
                    tasks.start_soon(listen, index, session)
            with anyio.fail_after(15):
                await all_open.wait()
            await anyio.sleep(1)  # every stream past its first read
            before = command_calls(redis)
            quiet = 4.0
            await anyio.sleep(quiet)
            after = command_calls(redis)
            quiet_over.set()
            rounds = quiet / KEEPALIVE
            calls = {name: after.get(name, 0) - before.get(name, 0) for name in ("xrange", "getex")}
            # Per session and round, not per stream (that would be 12 GETEX a round, and reads besides).
            assert calls["xrange"] == 0, calls
            assert 0 < calls["getex"] <= QUIET_SESSIONS * (rounds + 2), calls
            # Each stream heard about one keep-alive a period.
            assert min(keepalives) >= rounds / 2, keepalives

            # Quiet longer than the idle timeout and the slot leases: the sessions live, the slots are still held.
            first = sessions[0]
            answer = await http.post(url, json=first.call(5, "add", {"a": 1, "b": 2}), headers=first.headers())
            assert answer.status_code == 200, answer.text
            extra = await http.get(url, headers=first.headers(Accept="text/event-stream"))
            assert extra.status_code == 409, extra.text

            # A session ended elsewhere (its record gone, as another replica's DELETE leaves it): its streams end
            # within a keep-alive round or two; the others' stay open.
            with redis.client() as raw:
                (record,) = [key for key in raw.scan_iter("*:session:*") if key.endswith(str(sessions[1].session_id))]
                raw.delete(record)
            with anyio.fail_after(5):
                await one_ended.wait()
            await anyio.sleep(2 * KEEPALIVE)  # another round: nobody else's streams end
            assert ended == [1] * STREAMS_PER_SESSION
            tasks.cancel_scope.cancel()
