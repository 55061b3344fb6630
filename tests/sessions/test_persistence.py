"""Restarting every replica and Redis itself (with AOF) loses no counter value (DESIGN.md section 4, contract 5)."""

from __future__ import annotations

import pytest

from tests.support.clients import client, read_counter
from tests.support.redis import running_redis
from tests.support.replicas import running_replicas

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


async def counter_at(url: str, wire: str) -> int:
    async with client(url, wire) as mcp:
        return await read_counter(mcp)


async def test_counter_survives_restarting_every_replica_and_redis() -> None:
    with running_redis(appendonly=True) as redis, running_replicas(2, redis.url()) as replicas:
        for replica, wire in zip(replicas, ("legacy", "modern"), strict=True):
            async with client(replica.mcp_url, wire) as mcp:
                await mcp.call_tool("bump_counter", {"by": 21})
        assert await counter_at(replicas[1].mcp_url, "legacy") == 42

        replicas.stop_all()
        redis.restart()  # SIGTERM, then start again from the same data directory (its AOF)
        replicas.start_all()

        assert await counter_at(replicas[0].mcp_url, "modern") == 42
        assert await counter_at(replicas[1].mcp_url, "legacy") == 42
