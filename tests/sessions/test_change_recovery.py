"""A change is announced to every subscriber once, even when its replica dies or loses Redis half-way through.

The replica making the change (`bump_counter`) reaches Redis through a gate (`tests.support.redis_gate`) that stops
its connection at the moment it appends the notification to the subscribers' GET streams, after letting some of
those appends through. Then the replica is SIGKILLed (another replica must finish the change once the dead one's
lease lapses), or its Redis connection drops (the same replica must finish it). Subscribers use the real SDK client.
"""

from __future__ import annotations

import hashlib
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager

import anyio
import httpx2
import pytest
from mcp.client import Client

from prynai_mcp.redis_store.keys import APPEND_EVENT
from tests.support.clients import COUNTER, ResourceUpdates, client, read_counter, text_of
from tests.support.raw import RawSession
from tests.support.redis import RedisServer
from tests.support.redis_gate import Command, RedisGate, redis_gate
from tests.support.replicas import Replica
from tests.support.waiting import eventually

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")

LEASE_SECONDS = 1.5
SUBSCRIBERS = 6
# What a replica sends to append an event to a stream; with three keys (the change's owed set the third), a change's
# notification to one subscriber's GET stream.
APPEND_SHA = hashlib.sha1(APPEND_EVENT.encode()).hexdigest().encode()


def telling(command: Command) -> bool:
    return len(command) > 2 and command[0].upper() == b"EVALSHA" and command[1:3] == [APPEND_SHA, b"3"]


@pytest.fixture
def gate(own_redis: RedisServer) -> Iterator[RedisGate]:
    with redis_gate(own_redis.port) as running:
        yield running


@contextmanager
def leased_replica(index: int, redis_url: str, lease_seconds: float = LEASE_SECONDS) -> Iterator[Replica]:
    """A replica of the deployment, with a short lease so that its death is known quickly."""
    replica = Replica(index, {"REDIS_URL": redis_url, "PRYNAI_REPLICA_LEASE_SECONDS": str(lease_seconds)})
    replica.start()
    try:
        yield replica
    finally:
        replica.stop()


@pytest.fixture
def changer(gate: RedisGate) -> Iterator[Replica]:
    """The replica that makes the change, with its Redis behind the gate."""
    with leased_replica(0, gate.url()) as replica:
        yield replica


@pytest.fixture
def survivor(own_redis: RedisServer) -> Iterator[Replica]:
    """A replica of the same deployment that reaches Redis directly."""
    with leased_replica(1, own_redis.url()) as replica:
        yield replica


@asynccontextmanager
async def subscribers(url: str) -> AsyncIterator[list[ResourceUpdates]]:
    """SUBSCRIBERS legacy sessions on `url`, each subscribed to the counter with its GET stream open."""
    async with AsyncExitStack() as stack:
        heard = [ResourceUpdates() for _ in range(SUBSCRIBERS)]
        for updates in heard:
            mcp = await stack.enter_async_context(client(url, "legacy", message_handler=updates))
            await mcp.subscribe_resource(COUNTER)
        yield heard


async def bump_and_wait(http: httpx2.AsyncClient, url: str) -> httpx2.Response | None:
    """`bump_counter` over a session of its own on `url`: the answer, or None when the replica died first."""
    bumper = RawSession(http, [url])
    await bumper.open()
    try:
        return await http.post(url, json=bumper.call(2, "bump_counter", {}), headers=bumper.headers())
    except httpx2.HTTPError:
        return None


async def each_told_once(heard: list[ResourceUpdates], observer: Client) -> None:
    """Every subscriber hears of the change, in time for a recovery after the lease; and once: a second bump is the
    sentinel, and the streams are ordered, so a duplicate of the first would come before it."""
    for updates in heard:
        assert await updates.wait_for(1, seconds=LEASE_SECONDS + 10) == [COUNTER]
    await observer.call_tool("bump_counter", {})
    for updates in heard:
        assert await updates.wait_for(2) == [COUNTER, COUNTER]


@pytest.mark.parametrize("told_before_death", [0, 2])
async def test_subscribers_a_killed_replica_had_not_told_hear_of_its_change_from_a_survivor(
    gate: RedisGate, changer: Replica, survivor: Replica, told_before_death: int
) -> None:
    async with subscribers(survivor.mcp_url) as heard, client(survivor.mcp_url, "legacy") as observer:
        before = await read_counter(observer)
        gate.arm(telling, pass_first=told_before_death)
        async with httpx2.AsyncClient(trust_env=False, timeout=30) as http, anyio.create_task_group() as tasks:
            answers: list[httpx2.Response | None] = []

            async def bump() -> None:
                answers.append(await bump_and_wait(http, changer.mcp_url))

            tasks.start_soon(bump)
            await eventually(gate.sprung.is_set, 10)
            # Frozen after changing the counter and telling `told_before_death` subscribers: now it dies.
            changer.stop(signal.SIGKILL)
        assert answers == [None]  # the bump's caller never got an answer
        assert await read_counter(observer) == before + 1  # but the counter did move

        # Every subscriber hears of it: the survivor finishes the change once the dead replica's lease lapses.
        await each_told_once(heard, observer)

    (recovered,) = [r for r in survivor.log_records() if r.get("event") == "change_recovered"]
    assert recovered["uri"] == COUNTER
    assert f"told {SUBSCRIBERS - told_before_death} more sessions" in recovered["message"]


async def test_a_fan_out_cut_by_a_lost_redis_connection_is_finished_by_the_same_replica(
    gate: RedisGate, changer: Replica
) -> None:
    async with subscribers(changer.mcp_url) as heard, client(changer.mcp_url, "legacy") as observer:
        before = await read_counter(observer)
        gate.arm(telling, pass_first=1, drop=True)
        bumped = await observer.call_tool("bump_counter", {})
        # The change is made and reported as made, though telling its subscribers failed half-way.
        assert not bumped.is_error, text_of(bumped)
        assert bumped.structured_content == {"result": before + 1}
        assert gate.sprung.is_set()

        await each_told_once(heard, observer)
    (recovered,) = [r for r in changer.log_records() if r.get("event") == "change_recovered"]
    assert f"told {SUBSCRIBERS - 1} more sessions" in recovered["message"]


async def test_changes_finished_in_time_are_never_taken_for_abandoned_ones(own_redis: RedisServer) -> None:
    # A short lease makes the replica look for unfinished changes every 50 ms, while bumps open and close changes
    # back to back: the moments around each opening and closing must not pass for a change left half-told.
    with leased_replica(0, own_redis.url(), lease_seconds=0.15) as replica:
        async with subscribers(replica.mcp_url) as heard, client(replica.mcp_url, "modern") as bumper:
            bumps = 0
            until = anyio.current_time() + 4
            while anyio.current_time() < until:  # never cancel a call half-way: each is answered before the next
                await bumper.call_tool("bump_counter", {})
                bumps += 1
            for updates in heard:
                assert len(await updates.wait_for(bumps)) == bumps
        assert bumps > 100
        assert [r for r in replica.log_records() if r.get("event") == "change_recovered"] == []
