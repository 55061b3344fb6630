"""The Redis state backend and change bus against a real redis-server, in-process: the semantics replicas rely on.

Two objects built on two separate connection pools stand for two replicas.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import anyio
import pytest
from mcp.server.subscriptions import ResourceUpdated, ServerEvent, ToolsListChanged

from prynai_mcp.redis_store import Keys, RedisStore, StoreUnavailable
from prynai_mcp.state.redis import RedisBackend
from prynai_mcp.state.redis_bus import RedisSubscriptionBus, decode_event, encode_event
from tests.support.redis import RedisServer
from tests.support.server import free_port

URI = "prynai://counter"


@pytest.fixture
async def pair(redis: RedisServer) -> AsyncIterator[tuple[RedisBackend, RedisBackend]]:
    """Two backends ("replicas") with a fresh prefix each test, so tests do not see each other's keys."""
    keys = Keys(f"t{time.monotonic_ns()}")
    first = RedisBackend(RedisStore(redis.url()), keys, session_ttl_seconds=60)
    second = RedisBackend(RedisStore(redis.url()), keys, session_ttl_seconds=60)
    yield first, second
    await first.close()
    await second.close()


async def test_subscriptions_are_shared_and_forgetting_a_session_drops_only_its_own(
    pair: tuple[RedisBackend, RedisBackend],
) -> None:
    a, b = pair
    await a.subscribe("s1", URI)
    await b.subscribe("s2", URI)
    await b.subscribe("s2", "prynai://status")
    assert await a.subscribers(URI) == {"s1", "s2"}

    await a.unsubscribe("s1", URI)
    assert await b.subscribers(URI) == {"s2"}
    await a.unsubscribe("s1", URI)  # unknown ones are ignored

    await a.set_log_level("s2", "warning")
    await a.forget_session("s2")
    assert await b.subscribers(URI) == set()
    assert await b.subscribers("prynai://status") == set()
    assert await b.get_log_level("s2") is None


async def test_log_level_is_shared(pair: tuple[RedisBackend, RedisBackend]) -> None:
    a, b = pair
    assert await b.get_log_level("s1") is None
    await a.set_log_level("s1", "error")
    assert await b.get_log_level("s1") == "error"


async def test_session_choices_expire_when_idle_and_touching_renews_them(redis: RedisServer) -> None:
    # TTL 2 s; each wait is 1.2 s: past the TTL from the first write, well inside it from the touch.
    backend = RedisBackend(RedisStore(redis.url()), Keys(f"t{time.monotonic_ns()}"), session_ttl_seconds=2)
    try:
        for session in ("idle", "active"):
            await backend.subscribe(session, URI)
            await backend.set_log_level(session, "debug")
        await anyio.sleep(1.2)
        await backend.touch_session("active")
        await anyio.sleep(1.2)
        assert await backend.subscribers(URI) == {"active"}
        assert await backend.get_log_level("idle") is None
        assert await backend.get_log_level("active") == "debug"
    finally:
        await backend.close()


async def test_counter_is_atomic_across_replicas(pair: tuple[RedisBackend, RedisBackend]) -> None:
    a, b = pair
    async with anyio.create_task_group() as bumps:
        for backend in (a, b) * 50:
            bumps.start_soon(backend.counter_add, "c", 2)
    assert await a.counter_get("c") == 200
    assert await b.counter_add("c", -1) == 199


async def test_counter_overflow_is_a_plain_error(pair: tuple[RedisBackend, RedisBackend]) -> None:
    a, _ = pair
    await a.counter_add("big", 2**63 - 1)
    with pytest.raises(ValueError, match="cannot change"):
        await a.counter_add("big", 1)


async def test_unreachable_redis_fails_fast_and_health_says_false() -> None:
    backend = RedisBackend(RedisStore(f"redis://127.0.0.1:{free_port()}/0"), Keys(), session_ttl_seconds=60)
    try:
        assert await backend.healthy() is False
        # Nothing listens on the port: refused at once. Five seconds separates "fast" from a retry loop.
        with anyio.fail_after(5), pytest.raises(StoreUnavailable) as failed:
            await backend.counter_add("c", 1)
        assert failed.value.retry_after > 0
    finally:
        await backend.close()


def test_events_round_trip_and_unknown_ones_are_ignored() -> None:
    for event in (ResourceUpdated(uri="prynai://counter"), ToolsListChanged()):
        assert decode_event(encode_event(event)) == event
    assert decode_event('{"kind": "something_new"}') is None
    assert decode_event("not json") is None


async def test_bus_reaches_other_replicas_and_reconnects_after_redis_restarts(own_redis: RedisServer) -> None:
    keys = Keys("bus")
    here, there = RedisStore(own_redis.url()), RedisStore(own_redis.url())
    publisher, listener_bus = RedisSubscriptionBus(here, keys), RedisSubscriptionBus(there, keys)
    heard: list[ServerEvent] = []
    arrived = anyio.Event()

    def listener(event: ServerEvent) -> None:
        heard.append(event)
        arrived.set()

    listener_bus.subscribe(listener)
    try:
        async with anyio.create_task_group() as tasks:
            await tasks.start(listener_bus.run)
            await publisher.publish(ResourceUpdated(uri=URI))
            with anyio.fail_after(5):
                await arrived.wait()

            own_redis.restart()
            # Events published while the listener is resubscribing are lost by design (level triggers, no replay),
            # so publish until one arrives: the listener must come back by itself, without a restart.
            with anyio.fail_after(10):
                while True:
                    arrived = anyio.Event()
                    await publisher.publish(ToolsListChanged())
                    with anyio.move_on_after(0.5):
                        await arrived.wait()
                        break
            tasks.cancel_scope.cancel()
        assert heard[0] == ResourceUpdated(uri=URI)
        assert set(heard[1:]) == {ToolsListChanged()}
    finally:
        await here.close()
        await there.close()


async def test_bus_delivers_locally_when_redis_is_down(own_redis: RedisServer) -> None:
    store = RedisStore(own_redis.url())
    bus = RedisSubscriptionBus(store, Keys("bus"))
    heard: list[ServerEvent] = []
    bus.subscribe(heard.append)
    own_redis.stop()
    try:
        with anyio.fail_after(5):
            await bus.publish(ResourceUpdated(uri=URI))  # never raises: the change already happened
        assert heard == [ResourceUpdated(uri=URI)]
    finally:
        await store.close()


def test_store_reads_password_db_and_tls_from_the_url_without_connecting() -> None:
    store = RedisStore("rediss://:secret-key@cache.example:6380/2")  # Azure Cache for Redis form
    pool = store.client.connection_pool
    assert pool.connection_class.__name__ == "SSLConnection"
    assert (pool.connection_kwargs["port"], pool.connection_kwargs["db"]) == (6380, 2)
    assert pool.connection_kwargs["password"] == "secret-key"
    assert "secret-key" not in repr(store)
    with pytest.raises(ValueError, match="REDIS_URL"):
        RedisStore("http://cache.example")
