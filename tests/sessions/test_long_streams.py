"""Streams longer than a proxy allows (Azure Container Apps' ingress ends every request at 240 s): the server ends a
stream it has held for PRYNAI_SSE_MAX_STREAM_SECONDS with its position and a retry hint, and the client resumes
with Last-Event-ID on any replica, losing nothing; a stream a proxy cuts without warning resumes the same way.

Here the limits are seconds, not minutes: a long_task of several seconds crosses many of them.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx2

from tests.support.clients import legacy_client, text_of
from tests.support.raw import RawSession, sse_events
from tests.support.redis import RedisServer
from tests.support.replicas import RunningProxy, round_robin_proxy, running_replicas

ROOT = Path(__file__).resolve().parents[2]
SDK1_CLIENT = ROOT / "tests" / "support" / "sdk1_client.py"
STEPS = 12
DELAY = 0.5  # a long_task of about 6 s
SERVER_LIMIT = 1.5  # PRYNAI_SSE_MAX_STREAM_SECONDS
PROXY_LIMIT = 3.0  # what the proxy would allow a stream, were the server not to end it first


async def long_task_through(proxy: RunningProxy) -> list[float]:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with legacy_client(proxy.mcp_url) as mcp:
        with anyio.fail_after(STEPS * DELAY + 30):
            result = await mcp.call_tool(
                "long_task", {"steps": STEPS, "delay_seconds": DELAY}, progress_callback=on_progress
            )
        assert text_of(result) == "done"
    return seen


async def test_the_server_ends_long_streams_before_the_proxy_and_nothing_is_lost(redis: RedisServer) -> None:
    env = {"PRYNAI_SSE_MAX_STREAM_SECONDS": str(SERVER_LIMIT), "PRYNAI_REDIS_PREFIX": "long-streams"}
    with (
        running_replicas(2, redis.url(), env=env) as replicas,
        round_robin_proxy(replicas.urls, cut_after=PROXY_LIMIT) as proxy,
    ):
        seen = await long_task_through(proxy)
    assert seen == [float(step) for step in range(1, STEPS + 1)]  # every step once, in order
    assert proxy.proxy.cuts == 0  # the server always ended the stream first
    resumptions = [hop for hop in proxy.hops if hop.http_method == "GET" and hop.status == 200]
    assert len(resumptions) >= 2, proxy.hops  # about one per SERVER_LIMIT seconds of the task
    assert {hop.replica for hop in resumptions} == {0, 1}  # resumed on either replica


async def test_a_stream_the_proxy_cuts_without_warning_resumes_too(redis: RedisServer) -> None:
    with (
        running_replicas(2, redis.url(), env={"PRYNAI_REDIS_PREFIX": "cut-streams"}) as replicas,
        round_robin_proxy(replicas.urls, cut_after=SERVER_LIMIT) as proxy,
    ):
        seen = await long_task_through(proxy)
    assert seen == [float(step) for step in range(1, STEPS + 1)]
    assert proxy.proxy.cuts >= 2


async def test_the_end_of_a_held_stream_says_where_to_resume(redis: RedisServer, http: httpx2.AsyncClient) -> None:
    """What the client receives when the server ends a request's stream: the events so far, each with an id, then
    a retry hint; the headers keep proxies from buffering the stream."""
    env = {"PRYNAI_SSE_MAX_STREAM_SECONDS": "1", "PRYNAI_REDIS_PREFIX": "held-streams", "PRYNAI_SSE_RETRY_MS": "300"}
    with running_replicas(1, redis.url(), env=env) as replicas:
        session = RawSession(http, [replicas[0].mcp_url])
        await session.open()
        call = session.call(7, "long_task", {"steps": 6, "delay_seconds": 0.5})
        lines: list[str] = []
        async with http.stream("POST", replicas[0].mcp_url, json=call, headers=session.headers()) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"].startswith("no-cache")
            assert response.headers["x-accel-buffering"] == "no"
            with anyio.fail_after(10):
                lines = [line async for line in response.aiter_lines()]
        assert "retry: 300" in lines
        assert not any('"id":7' in line and '"result"' in line for line in lines)  # ended before the answer
        last_id = [line.removeprefix("id: ") for line in lines if line.startswith("id: ")][-1]
        # Resume as a client does, as often as the server ends the stream, until the answer arrives.
        answer = None
        with anyio.fail_after(20):
            while answer is None:
                headers = session.headers(**{"Accept": "text/event-stream", "Last-Event-ID": last_id})
                async with http.stream("GET", replicas[0].mcp_url, headers=headers) as resumed:
                    async for event in sse_events(resumed):
                        last_id = event.id or last_id
                        if event.data and event.data.get("id") == 7:
                            answer = event.data
        assert answer["result"]["content"][0]["text"] == "done"


async def test_the_1x_sdk_client_resumes_across_the_cuts_too(redis: RedisServer) -> None:
    """The 1.x SDK (what langchain-mcp-adapters runs on) in its own environment, through the same limits."""
    env = {"PRYNAI_SSE_MAX_STREAM_SECONDS": str(SERVER_LIMIT), "PRYNAI_REDIS_PREFIX": "long-streams-1x"}
    with (
        running_replicas(2, redis.url(), env=env) as replicas,
        round_robin_proxy(replicas.urls, cut_after=PROXY_LIMIT) as proxy,
    ):
        done = await anyio.run_process(
            ["uv", "run", "--quiet", str(SDK1_CLIENT), proxy.mcp_url, str(STEPS), str(DELAY)],
            check=False,
            cwd=ROOT,
        )
    output = done.stdout.decode().splitlines()
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert output == [
        "PROTOCOL 2025-11-25",
        "PROGRESS " + ",".join(str(step) for step in range(1, STEPS + 1)),
        "RESULT done",
    ]
    assert proxy.proxy.cuts == 0
    assert len([hop for hop in proxy.hops if hop.http_method == "GET" and hop.status == 200]) >= 2
