"""What a legacy session recorded (subscriptions, log level) lives as long as the session does, however long it stays
busy: the records expire with the session's idle timeout, and every use of the session renews them on any replica.

The idle timeout here is 2 s and the client stays busy for three times that, through the round-robin proxy, without
subscribing again or setting its level again.
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from tests.support.clients import Recorder, ResourceUpdates, client
from tests.support.redis import RedisServer
from tests.support.replicas import Replicas, RunningProxy, round_robin_proxy, running_replicas

IDLE_SECONDS = 2.0

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


@pytest.fixture
def short_lived(redis: RedisServer) -> Iterator[Replicas]:
    with running_replicas(2, redis.url(), env={"PRYNAI_SESSION_IDLE_SECONDS": str(IDLE_SECONDS)}) as started:
        yield started


@pytest.fixture
def balancer(short_lived: Replicas) -> Iterator[RunningProxy]:
    with round_robin_proxy(short_lived.urls) as running:
        yield running


async def test_a_busy_session_keeps_its_subscriptions_and_log_level(
    short_lived: Replicas, balancer: RunningProxy
) -> None:
    updates = ResourceUpdates()
    logs = Recorder()
    async with client(balancer.mcp_url, "legacy", message_handler=updates, logging_callback=logs.log) as mcp:
        await mcp.subscribe_resource("prynai://counter")
        await mcp.set_logging_level("warning")

        busy_until = anyio.current_time() + 3 * IDLE_SECONDS
        while anyio.current_time() < busy_until:
            assert (await mcp.call_tool("add", {"a": 1, "b": 1})).structured_content == {"result": 2}
            await anyio.sleep(IDLE_SECONDS / 8)

        # The level chosen at the start still filters: long_task's info lines stay away.
        await mcp.call_tool("long_task", {"steps": 1, "delay_seconds": 0})
        assert logs.events == []
        # The subscription made at the start still delivers, whichever replica makes the change.
        async with client(short_lived[0].mcp_url, "legacy") as other:
            await other.call_tool("bump_counter", {})
        with anyio.fail_after(10):
            await updates.arrived.wait()
    assert updates.uris == ["prynai://counter"]
