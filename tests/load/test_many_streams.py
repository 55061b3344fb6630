"""A replica holding more GET streams than a default Redis connection pool has room for still serves (found by the
load test: past about 100 open streams, every request of the replica failed with -32053, "Redis unavailable").

Each open stream waits for its events in a blocking read that holds one pooled Redis connection; redis-py's default
pool has 100. The replica must keep serving with more streams than that open.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio
import httpx2
import pytest

from tests.support.raw import PROTOCOL, RawSession
from tests.support.redis import running_redis
from tests.support.replicas import Replica, running_replicas

STREAMS = 130  # more than redis-py's default pool of 100


@pytest.fixture
def replica() -> Iterator[Replica]:
    bounds = {"PRYNAI_MAX_SESSIONS_PER_PRINCIPAL": "1000"}  # every stream's session is one client's here
    with running_redis() as redis, running_replicas(1, redis.url(), bounds) as started:
        yield started[0]


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    limits = httpx2.Limits(max_connections=STREAMS + 20, max_keepalive_connections=STREAMS + 20)
    async with httpx2.AsyncClient(trust_env=False, timeout=20, limits=limits) as client:
        yield client


async def test_a_replica_with_more_open_streams_than_a_default_pool_still_serves(
    replica: Replica, http: httpx2.AsyncClient
) -> None:
    opened = 0
    all_open = anyio.Event()

    async def hold_stream(session_id: str) -> None:
        nonlocal opened
        headers = {"Accept": "text/event-stream", "Mcp-Protocol-Version": PROTOCOL, "Mcp-Session-Id": session_id}
        async with http.stream("GET", replica.mcp_url, headers=headers) as stream:
            assert stream.status_code == 200
            opened += 1
            if opened == STREAMS:
                all_open.set()
            await anyio.sleep_forever()

    async with anyio.create_task_group() as streams:
        for _ in range(STREAMS):
            session = RawSession(http, [replica.mcp_url])
            streams.start_soon(hold_stream, await session.open())
        with anyio.fail_after(30):
            await all_open.wait()
        await anyio.sleep(1.5)  # every stream is now inside its blocking read
        session = RawSession(http, [replica.mcp_url])
        await session.open()
        answer = await http.post(
            replica.mcp_url, json=session.call(1, "add", {"a": 2, "b": 3}), headers=session.headers()
        )
        assert answer.status_code == 200, answer.text
        assert '"text":"5"' in answer.text
        assert (await http.get(f"{replica.url}/readyz")).status_code == 200
        streams.cancel_scope.cancel()
    assert "Too many connections" not in replica.log()
