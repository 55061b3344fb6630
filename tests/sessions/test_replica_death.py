"""A replica dies in the middle of a request: the client gets a clear answer in bounded time, and the session lives on.

DESIGN.md contract 5. The replica running `long_task` is killed with SIGKILL (no chance to say goodbye); the load
balancer (the round-robin proxy) then sends traffic to the survivor only, as a health-checking balancer would.
The SDK client resumes the broken stream with Last-Event-ID on the survivor, which sees that the request's replica
no longer holds its lease and answers the request with an "interrupted" JSON-RPC error.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import anyio
import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from tests.support.clients import legacy_client
from tests.support.documented import INTERRUPTED
from tests.support.raw import RawSession, sse_events
from tests.support.redis import RedisServer
from tests.support.replicas import Replicas, RunningProxy, round_robin_proxy, running_replicas

LEASE_SECONDS = 1.5


@pytest.fixture
def leased_replicas(own_redis: RedisServer) -> Iterator[Replicas]:
    with running_replicas(2, own_redis.url(), env={"PRYNAI_REPLICA_LEASE_SECONDS": str(LEASE_SECONDS)}) as started:
        yield started


@pytest.fixture
def leased_proxy(leased_replicas: Replicas) -> Iterator[RunningProxy]:
    with round_robin_proxy(leased_replicas.urls) as running:
        yield running


async def test_sigkill_mid_request_interrupts_in_bounded_time(
    leased_replicas: Replicas, leased_proxy: RunningProxy
) -> None:
    async with legacy_client(leased_proxy.mcp_url) as mcp:
        outcome: list[BaseException | str] = []
        progressed = anyio.Event()
        answered = anyio.Event()

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            progressed.set()

        async def long_call() -> None:
            try:
                result = await mcp.call_tool(
                    "long_task", {"steps": 60, "delay_seconds": 0.25}, progress_callback=on_progress
                )
                outcome.append(result.content[0].text)  # type: ignore[union-attr]
            except MCPError as error:
                outcome.append(error)
            answered.set()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(long_call)
            with anyio.fail_after(10):
                await progressed.wait()
            victim = leased_proxy.replicas_for("tools/call")[-1]
            leased_replicas[victim].stop(signal.SIGKILL)
            killed_at = anyio.current_time()
            leased_proxy.proxy.upstreams = [leased_replicas[1 - victim].url]  # the balancer drops the dead replica
            with anyio.fail_after(LEASE_SECONDS + 10):
                await answered.wait()
            waited = anyio.current_time() - killed_at

        (error,) = outcome
        assert isinstance(error, MCPError), error
        assert error.error.code == INTERRUPTED
        assert "interrupted" in error.error.message
        # Bounded: the lease, the client's reconnect delay (1 s) and a check period, not the 15 s the task needed.
        assert waited < LEASE_SECONDS + 6

        # The session itself was not lost with the replica.
        after = await mcp.call_tool("add", {"a": 20, "b": 22})
        assert after.content[0].text == "42"  # type: ignore[union-attr]


async def test_sigkill_during_a_silent_request_interrupts_the_resumed_stream(leased_replicas: Replicas) -> None:
    """A request that sends nothing for a while still gets a priming event once it outlives PRYNAI_SSE_AFTER_MS, and
    is claimed before that event leaves: resuming it on the survivor after a SIGKILL ends in "interrupted"."""
    async with httpx2.AsyncClient(trust_env=False, timeout=30) as http:
        session = RawSession(http, [leased_replicas[0].mcp_url, leased_replicas[1].mcp_url])
        await session.open()  # initialize on A, initialized on B
        body = session.call(4, "long_task", {"steps": 1, "delay_seconds": 30})
        url = session.url()
        assert url == leased_replicas[0].mcp_url
        async with http.stream("POST", url, json=body, headers=session.headers()) as response:
            with anyio.fail_after(10):
                priming = await anext(sse_events(response))
        assert priming.data is None and priming.id

        leased_replicas[0].stop(signal.SIGKILL)
        headers = session.headers(**{"Last-Event-ID": priming.id, "Accept": "text/event-stream"})
        with anyio.fail_after(LEASE_SECONDS + 6):
            async with http.stream("GET", leased_replicas[1].mcp_url, headers=headers) as resumed:
                events = [event async for event in sse_events(resumed)]
        (answer,) = [e.data for e in events if e.data]
        assert answer["id"] == 4 and answer["error"]["code"] == INTERRUPTED
