"""What replicas share through Redis: the counter, change events (both wires), and nothing across deployments.

Legacy-wire clients here are pinned to one replica each (a fresh session per replica): roaming sessions have their
own tests. Modern-wire clients have no session, so any replica serves any request.
"""

from __future__ import annotations

import anyio
import pytest
from mcp.shared.subscriptions import ResourceUpdated

from tests.support.clients import COUNTER, ResourceUpdates, client, read_counter
from tests.support.redis import RedisServer
from tests.support.replicas import Replicas, RunningProxy, running_replicas

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


async def test_counter_bumped_on_one_replica_reads_the_same_on_another(replicas: Replicas, wire: str) -> None:
    async with client(replicas[0].mcp_url, wire) as on_a, client(replicas[1].mcp_url, wire) as on_b:
        before = await read_counter(on_b)
        bumped = await on_a.call_tool("bump_counter", {"by": 3})
        assert bumped.structured_content == {"result": before + 3}
        assert await read_counter(on_b) == before + 3
        # And back the other way, so neither replica is merely caching what it wrote.
        await on_b.call_tool("bump_counter", {"by": 4})
        assert await read_counter(on_a) == before + 7


async def test_concurrent_bumps_on_two_replicas_lose_nothing(replicas: Replicas) -> None:
    async with client(replicas[0].mcp_url, "modern") as on_a, client(replicas[1].mcp_url, "modern") as on_b:
        before = await read_counter(on_a)
        async with anyio.create_task_group() as bumps:
            for mcp in (on_a, on_b) * 10:
                bumps.start_soon(mcp.call_tool, "bump_counter", {"by": 1})
        assert await read_counter(on_b) == before + 20


async def test_modern_listen_on_one_replica_hears_a_bump_on_another(replicas: Replicas) -> None:
    async with client(replicas[0].mcp_url, "modern") as listener, client(replicas[1].mcp_url, "modern") as other:
        async with listener.listen(resource_subscriptions=[COUNTER]) as subscription:
            await other.call_tool("bump_counter", {})
            with anyio.fail_after(5):
                event = await subscription.__anext__()
    assert event == ResourceUpdated(uri=COUNTER)


async def test_modern_listen_through_the_balancer_streams_events_from_another_replica(proxy: RunningProxy) -> None:
    # One client: its listen stream and its bump go through the round-robin proxy to different replicas, and the
    # event arrives on the stream while it stays open (the proxy relays SSE unbuffered).
    async with client(proxy.mcp_url, "modern") as mcp:
        async with mcp.listen(resource_subscriptions=[COUNTER]) as subscription:
            await mcp.call_tool("bump_counter", {})
            with anyio.fail_after(5):
                event = await subscription.__anext__()
    assert event == ResourceUpdated(uri=COUNTER)
    listen, bump = proxy.replicas_for("subscriptions/listen"), proxy.replicas_for("tools/call")
    assert len(listen) == 1 and len(bump) == 1 and listen != bump, proxy.hops


async def test_legacy_subscriber_on_one_replica_hears_each_bump_on_another_once(replicas: Replicas) -> None:
    updates = ResourceUpdates()

    async with (
        client(replicas[0].mcp_url, "legacy", message_handler=updates) as subscriber,
        client(replicas[1].mcp_url, "modern") as other,
    ):
        await subscriber.subscribe_resource(COUNTER)
        await other.call_tool("bump_counter", {})
        assert await updates.wait_for(1) == [COUNTER]
        # A second bump is the sentinel: the stream is ordered, so a duplicate of the first update (delivered by
        # both replicas, say) would arrive before the second one.
        await other.call_tool("bump_counter", {})
        assert await updates.wait_for(2) == [COUNTER, COUNTER]
        assert await read_counter(subscriber) == await read_counter(other)
    assert updates.uris == [COUNTER, COUNTER]


async def test_two_deployments_sharing_one_redis_keep_separate_counters(redis: RedisServer) -> None:
    with (
        running_replicas(1, redis.url(), {"PRYNAI_REDIS_PREFIX": "tenant-a"}) as tenant_a,
        running_replicas(1, redis.url(), {"PRYNAI_REDIS_PREFIX": "tenant-b"}) as tenant_b,
    ):
        async with client(tenant_a[0].mcp_url, "modern") as on_a, client(tenant_b[0].mcp_url, "modern") as on_b:
            before_a, before_b = await read_counter(on_a), await read_counter(on_b)
            await on_a.call_tool("bump_counter", {"by": 5})
            assert await read_counter(on_a) == before_a + 5
            assert await read_counter(on_b) == before_b
            await on_b.call_tool("bump_counter", {"by": 1})
            assert await read_counter(on_b) == before_b + 1
