"""The change feed and its journal in-process, against a real redis-server (and in memory): what replicas rely on.

Two journals on two connection pools stand for two replicas. The end-to-end cases (a replica killed, or losing
Redis, half-way through telling its subscribers) are in `test_change_recovery.py`.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
import pytest
from mcp.server.subscriptions import InMemorySubscriptionBus, ResourceUpdated, ServerEvent

from prynai_mcp.changes import ChangeFeed
from prynai_mcp.redis_store import Keys, RedisStore
from prynai_mcp.sessions.events import GET_STREAM_KEY, EventLog, MemoryEventLog
from prynai_mcp.sessions.ownership import RedisOwnership
from prynai_mcp.sessions.redis_stores import RedisEventLog
from prynai_mcp.state import MemoryBackend, RedisBackend, StateBackend
from prynai_mcp.state.journal import ChangeJournal, MemoryChangeJournal
from prynai_mcp.state.redis_journal import RedisChangeJournal
from tests.support.redis import RedisServer

URI = "prynai://counter"
UPDATED = {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": URI}}


@dataclass
class Replica:
    keys: Keys
    backend: StateBackend
    events: EventLog
    journal: ChangeJournal
    ownership: RedisOwnership


async def redis_replica(redis: RedisServer, keys: Keys, replica_id: str) -> Replica:
    """A replica's change journal and what it touches, holding its lease."""
    store = RedisStore(redis.url())
    events = RedisEventLog(store, keys, max_events=100, retention_seconds=60)
    journal = RedisChangeJournal(store, keys, replica_id, events=events, retention_seconds=60)
    ownership = RedisOwnership(store, keys, replica_id, lease_seconds=60, retention_seconds=60)
    await ownership.heartbeat()
    return Replica(keys, RedisBackend(store, keys, session_ttl_seconds=60), events, journal, ownership)


@pytest.fixture
async def pair(redis: RedisServer) -> AsyncIterator[tuple[Replica, Replica]]:
    keys = Keys(f"t{time.monotonic_ns()}")  # a fresh deployment each test
    first, second = await redis_replica(redis, keys, "aaaa0001"), await redis_replica(redis, keys, "bbbb0002")
    yield first, second
    await first.backend.close()
    await second.backend.close()


async def told(events: EventLog, session_id: str) -> list[object]:
    return [message for _, message in await events.read(session_id, GET_STREAM_KEY, None) if message is not None]


async def test_notify_resource_updated_after_a_change_tells_each_subscriber_once(
    pair: tuple[Replica, Replica],
) -> None:
    # `ctx.notify_resource_updated` (the SDK's idiom, a change made first) reaches the feed as a bus publish.
    a, b = pair
    await a.backend.subscribe("s1", URI)
    await b.backend.subscribe("s2", URI)
    heard: list[ServerEvent] = []
    bus = InMemorySubscriptionBus()
    bus.subscribe(heard.append)
    await ChangeFeed(bus, a.journal).publish(ResourceUpdated(uri=URI))
    assert heard == [ResourceUpdated(uri=URI)]
    assert await told(b.events, "s1") == [UPDATED]
    assert await told(b.events, "s2") == [UPDATED]
    assert await b.journal.abandoned(set()) == []  # and nothing was left in the journal


async def test_in_memory_the_same_feed_tells_each_subscriber_once() -> None:
    backend, events = MemoryBackend(), MemoryEventLog()
    await backend.subscribe("s1", URI)
    feed = ChangeFeed(InMemorySubscriptionBus(), MemoryChangeJournal(backend, events))
    async with feed.changing(URI):
        await backend.counter_add("counter", 1)
    await feed.publish(ResourceUpdated(uri=URI))
    assert await told(events, "s1") == [UPDATED, UPDATED]
    assert await told(events, "s2") == []


async def test_a_dead_replicas_change_is_taken_over_by_one_replica_only(
    pair: tuple[Replica, Replica], redis: RedisServer
) -> None:
    a, b = pair
    await a.backend.subscribe("s1", URI)
    await a.backend.subscribe("s2", URI)
    third = await redis_replica(redis, a.keys, "cccc0003")
    try:
        # An id that sorts before both survivors': the claim must not depend on how replica ids compare.
        dead = await redis_replica(redis, a.keys, "00dead00")
        change = await dead.journal.open(URI)  # journalled, then the replica died: its lease is gone
        await dead.ownership.retire()
        await dead.backend.close()

        # Both survivors look; exactly one takes it, and it tells both sessions, once.
        taken = [*await b.journal.abandoned(set()), *await third.journal.abandoned(set())]
        assert [(c.change_id, c.uri, c.left_by) for c in taken] == [(change.change_id, URI, "00dead00")]
        assert await b.journal.tell(taken[0]) == 2
        assert await third.journal.tell(taken[0]) == 0
        await b.journal.close(taken[0])
        assert await told(a.events, "s1") == [UPDATED] and await told(a.events, "s2") == [UPDATED]
        assert await a.journal.abandoned(set()) == []
    finally:
        await third.backend.close()


async def test_a_journal_entry_no_replica_can_read_is_dropped_not_retried(
    pair: tuple[Replica, Replica], redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    a, _ = pair
    pending = a.keys.changes_pending()
    with redis.client() as raw:  # what a newer replica, or a hand at redis-cli, might leave
        raw.hset(pending, "bad", "not json")
        raw.hset(pending, "odd", json.dumps({"uri": URI}))
    assert await a.journal.abandoned(set()) == []
    assert sum("cannot read" in record.getMessage() for record in caplog.records) == 2
    with redis.client() as raw:
        assert raw.hlen(pending) == 0


async def test_live_replicas_changes_are_left_to_them_and_a_dead_ones_taken_after_them(
    pair: tuple[Replica, Replica], redis: RedisServer
) -> None:
    a, b = pair
    c = await redis_replica(redis, a.keys, "cccc0003")
    dead = await redis_replica(redis, a.keys, "dddd0004")
    try:
        await a.journal.open(URI)  # replicas whose ids sort before and after the one looking, both alive
        await c.journal.open(URI)
        left = await dead.journal.open(URI)
        await dead.ownership.retire()
        assert [change.change_id for change in await b.journal.abandoned(set())] == [left.change_id]
        assert await b.journal.abandoned(set()) == []  # taken: it is b's now, and b is announcing it
    finally:
        await c.backend.close()
        await dead.backend.close()


async def test_an_own_change_counts_as_abandoned_only_when_two_looks_find_it_unfinished(
    pair: tuple[Replica, Replica],
) -> None:
    a, _ = pair
    change = await a.journal.open(URI)
    assert await a.journal.abandoned({change.change_id}) == []  # being announced
    assert await a.journal.abandoned(set()) == []  # first seen unfinished: it may be closing right now
    (again,) = await a.journal.abandoned(set())
    assert (again.change_id, again.left_by) == (change.change_id, "aaaa0001")


async def test_one_session_that_cannot_be_told_does_not_stop_the_others(
    pair: tuple[Replica, Replica], redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    a, _ = pair
    for session_id in ("s1", "s2", "s3"):
        await a.backend.subscribe(session_id, URI)
    with redis.client() as raw:  # s2's GET stream is not a stream: appending to it fails
        raw.set(a.keys.session_stream("s2", GET_STREAM_KEY), "not a stream")
    change = await a.journal.open(URI)
    assert await a.journal.tell(change) == 2
    assert await told(a.events, "s1") == [UPDATED] and await told(a.events, "s3") == [UPDATED]
    assert any("could not notify session s2" in r.getMessage() for r in caplog.records)


async def test_a_told_session_keeps_its_stream_for_the_event_retention(
    pair: tuple[Replica, Replica], redis: RedisServer
) -> None:
    a, _ = pair
    await a.backend.subscribe("s1", URI)
    change = await a.journal.open(URI)
    with redis.client() as raw:
        assert 59_000 < raw.pttl(a.keys.change_owed(change.change_id)) <= 60_000
        await a.journal.tell(change)
        assert 59_900 < raw.pttl(a.keys.session_stream("s1", GET_STREAM_KEY)) <= 60_000
        assert 59_900 < raw.pttl(a.keys.session_stream_sizes("s1")) <= 60_000


async def test_a_change_cancelled_half_way_is_announced_all_the_same(pair: tuple[Replica, Replica]) -> None:
    # A client that cancels its call, or a replica draining, may cancel the tool after it made its change.
    a, _ = pair
    await a.backend.subscribe("s1", URI)
    feed = ChangeFeed(InMemorySubscriptionBus(), a.journal)
    with anyio.CancelScope() as call:
        async with feed.changing(URI):
            await a.backend.counter_add("counter", 1)
            call.cancel()
            await anyio.sleep(5)  # cancelled here, after the change
    assert await told(a.events, "s1") == [UPDATED]


async def test_without_redis_a_change_notice_still_reaches_this_replicas_listeners(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    a = await redis_replica(own_redis, Keys("t"), "aaaa0001")
    heard: list[ServerEvent] = []
    bus = InMemorySubscriptionBus()
    bus.subscribe(heard.append)
    try:
        own_redis.stop()
        await ChangeFeed(bus, a.journal).publish(ResourceUpdated(uri=URI))  # does not raise
        assert heard == [ResourceUpdated(uri=URI)]
        assert any("could not journal a change" in r.getMessage() for r in caplog.records)
    finally:
        await a.backend.close()


async def test_recovery_outlives_a_redis_outage_and_says_so_once(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    keys = Keys("t")
    a = await redis_replica(own_redis, keys, "aaaa0001")
    feed = ChangeFeed(InMemorySubscriptionBus(), a.journal)
    try:
        async with anyio.create_task_group() as tasks:
            await tasks.start(feed.recover, 0.05)
            own_redis.stop()
            await anyio.sleep(0.6)  # a dozen looks, each failing
            own_redis.start()
            await a.ownership.heartbeat()
            await a.backend.subscribe("s1", URI)
            dead = await redis_replica(own_redis, keys, "dead0000")
            await dead.journal.open(URI)
            await dead.ownership.retire()
            await dead.backend.close()
            await tasks.start(a.events.run)  # the wake-ups of a's streams
            with a.events.watch("s1", GET_STREAM_KEY) as watch, anyio.fail_after(10):
                # The feed finishes telling the change once it has looked again: the stream wakes with it.
                while not (found := await a.events.read("s1", GET_STREAM_KEY, None)):
                    await watch.wait(10)
            (event,) = found
            assert event[1] == UPDATED
            tasks.cancel_scope.cancel()
        failures = [r for r in caplog.records if "could not look for unfinished changes" in r.getMessage()]
        assert len(failures) == 1, [r.getMessage() for r in failures]
    finally:
        await a.backend.close()
