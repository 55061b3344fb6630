"""Redis unreachable (DESIGN.md section 4, contract 8): reported, failing fast, and recovered without a restart.

Each test runs its own Redis, since it stops it. "Fast" bounds below are generous on purpose: a stopped Redis
refuses connections at once and the client's timeouts are about a second; a bound of a few seconds only separates
"fails fast" from "hangs" or "waits out a retry loop".
"""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from prynai_mcp.sampling import mock_sampler
from tests.support.clients import client
from tests.support.documented import STORE_UNAVAILABLE
from tests.support.raw import ACCEPT, RawSession, initialize_body, sse_events
from tests.support.redis import RedisServer, running_redis
from tests.support.replicas import Replicas, round_robin_proxy, running_replicas

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")

COUNTER = "prynai://counter"
FAIL_FAST_SECONDS = 5.0


async def health(url: str) -> tuple[dict[str, object], float]:
    async with httpx2.AsyncClient(trust_env=False, timeout=30) as http:
        started = time.monotonic()
        response = await http.get(f"{url}/healthz")
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    return response.json(), elapsed


async def live(url: str) -> int:
    async with httpx2.AsyncClient(trust_env=False, timeout=30) as http:
        return (await http.get(f"{url}/livez")).status_code


async def bump(url: str, wire: str) -> int:
    async with client(url, wire) as mcp:
        result = await mcp.call_tool("bump_counter", {})
    assert not result.is_error, result
    return int(result.structured_content["result"])


async def wait_until_healthy(url: str, seconds: float = 15) -> None:
    # Polling is the point: /healthz is what a load balancer's probe polls.
    with anyio.fail_after(seconds):
        while True:
            if (await health(url))[0]["redis"] is True:
                return
            await anyio.sleep(0.1)


async def ready(url: str) -> tuple[int, dict[str, object]]:
    async with httpx2.AsyncClient(trust_env=False, timeout=30) as http:
        response = await http.get(f"{url}/readyz")
    return response.status_code, response.json()


async def test_health_reports_redis_and_liveness_does_not_depend_on_it(own_redis: RedisServer) -> None:
    with running_replicas(1, own_redis.url()) as replicas:
        url = replicas[0].url
        assert (await health(url))[0] == {"status": "ok", "redis": True}
        assert await ready(url) == (200, {"status": "ok", "redis": True})

        own_redis.stop()
        report, elapsed = await health(url)
        assert report["redis"] is False
        # The probe's own budget is one second; two means it never waits on a dead Redis beyond that.
        assert elapsed < 2.0, f"/healthz took {elapsed:.2f}s with Redis down"
        assert await live(url) == 200
        # Readiness takes the replica out of a balancer's rotation while every /mcp request would get 503.
        assert await ready(url) == (503, {"status": "unavailable", "redis": False})

        own_redis.start()
        await wait_until_healthy(url)
        assert await ready(url) == (200, {"status": "ok", "redis": True})


def assert_reported_without_internals(answer: str, error: dict[str, Any], log: list[dict[str, Any]]) -> None:
    """The client gets the reason, a retry hint and an id; the log has what went wrong under that id."""
    data = error["data"]
    assert set(data) == {"reason", "retryAfterSeconds", "requestId"}, data
    assert data["reason"] == "store_unavailable" and data["retryAfterSeconds"] >= 1
    assert "ConnectionError" not in answer and "127.0.0.1" not in answer and "Errno" not in answer
    logged = [r for r in log if r.get("request_id") == data["requestId"]]
    assert len(logged) == 1, log
    assert logged[0]["level"] == "warning" and "ConnectionError" in logged[0]["message"]


async def test_modern_tool_call_fails_fast_with_a_json_rpc_error_then_recovers(own_redis: RedisServer) -> None:
    with running_replicas(1, own_redis.url()) as replicas:
        url = replicas[0].mcp_url
        await bump(url, "modern")

        own_redis.stop()
        async with client(url, "modern") as mcp:
            started = time.monotonic()
            with anyio.fail_after(FAIL_FAST_SECONDS), pytest.raises(MCPError) as failed:
                await mcp.call_tool("bump_counter", {})
            elapsed = time.monotonic() - started
        assert failed.value.error.code == STORE_UNAVAILABLE
        assert "unavailable" in failed.value.error.message
        assert elapsed < FAIL_FAST_SECONDS
        refusal = failed.value.error.model_dump()
        assert_reported_without_internals(json.dumps(refusal), refusal, replicas[0].log_records())

        # Redis is back (same port, no persistence: the counter restarts), the replica was never restarted.
        own_redis.start()
        await wait_until_healthy(replicas[0].url)
        assert await bump(url, "modern") == 1


async def test_legacy_tool_call_fails_fast_with_a_clear_error_then_recovers(own_redis: RedisServer) -> None:
    with running_replicas(1, own_redis.url()) as replicas:
        url = replicas[0].mcp_url
        async with client(url, "legacy") as mcp:
            await mcp.call_tool("bump_counter", {})
            own_redis.stop()
            started = time.monotonic()
            with anyio.fail_after(FAIL_FAST_SECONDS), pytest.raises(MCPError) as failed:
                await mcp.call_tool("bump_counter", {})
            elapsed = time.monotonic() - started
        assert failed.value.error.code == STORE_UNAVAILABLE, failed.value.error
        assert elapsed < FAIL_FAST_SECONDS

        own_redis.start()
        await wait_until_healthy(replicas[0].url)
        assert await bump(url, "legacy") == 1


async def test_replicas_start_while_redis_is_down_and_serve_once_it_is_up() -> None:
    redis = RedisServer()  # chosen port, not started
    try:
        with running_replicas(2, redis.url()) as replicas:
            assert await live(replicas[0].url) == 200
            assert (await health(replicas[0].url))[0]["redis"] is False

            redis.start()
            for replica in replicas:
                await wait_until_healthy(replica.url)
            assert await bump(replicas[0].mcp_url, "modern") == 1
            assert await bump(replicas[1].mcp_url, "legacy") == 2
            # The shared request-state key, which could not be loaded at start-up, is agreed on now.
            await sampling_roams(replicas)
    finally:
        redis.close()


async def sampling_roams(replicas: Replicas) -> None:
    with round_robin_proxy(replicas.urls) as proxy:
        with anyio.fail_after(15):
            while True:  # the key loader retries every second; give it its turn
                async with client(proxy.mcp_url, "modern", sampling_callback=mock_sampler) as mcp:
                    try:
                        result = await mcp.call_tool("summarize_via_client_llm", {"text": "late Redis"})
                        break
                    except MCPError:
                        await anyio.sleep(0.5)
        assert result.content[0].text == "MOCK:late Redis"  # type: ignore[union-attr]
        calls = proxy.replicas_for("tools/call")
        assert calls[-1] != calls[-2], proxy.hops


async def test_modern_sampling_before_the_shared_key_loads_says_the_store_is_unavailable() -> None:
    """Redis down since start-up: a tool that must seal requestState cannot, and the client is told why (-32053),
    not handed the SDK's bare "Internal error"; a call that needs no sealing still works."""
    redis = RedisServer()  # chosen port, never started
    try:
        with running_replicas(1, redis.url()) as replicas:
            async with client(replicas[0].mcp_url, "modern", sampling_callback=mock_sampler) as mcp:
                assert (await mcp.call_tool("add", {"a": 1, "b": 2})).structured_content == {"result": 3}
                with anyio.fail_after(FAIL_FAST_SECONDS), pytest.raises(MCPError) as failed:
                    await mcp.call_tool("summarize_via_client_llm", {"text": "no key yet"})
        assert failed.value.error.code == STORE_UNAVAILABLE, failed.value.error
        assert "unavailable" in failed.value.error.message
    finally:
        redis.close()


async def test_session_requests_get_503_with_retry_after_while_redis_is_down(http: httpx2.AsyncClient) -> None:
    """What a balancer and a client see at the HTTP level (README: "503 + Retry-After", code -32053): the session
    lookup needs Redis, so a request of an open session is refused fast and says when to retry."""
    with running_redis(appendonly=True) as own_redis, running_replicas(1, own_redis.url()) as replicas:
        url = replicas[0].mcp_url
        session = RawSession(http, [url])
        await session.open()
        own_redis.stop()
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        started = time.monotonic()
        with anyio.fail_after(FAIL_FAST_SECONDS):
            refused = await http.post(url, json=listing, headers=session.headers())
        assert time.monotonic() - started < FAIL_FAST_SECONDS
        assert refused.status_code == 503, refused.text
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["content-type"].startswith("application/json")
        error = refused.json()["error"]
        assert error["code"] == STORE_UNAVAILABLE
        assert error["message"] == "Shared state store (Redis) is unavailable; retry shortly"
        assert_reported_without_internals(refused.text, error, replicas[0].log_records())

        # A new session cannot be registered either: the same 503, and no session id that was never stored.
        with anyio.fail_after(FAIL_FAST_SECONDS):
            opening = await http.post(url, json=initialize_body(3), headers={"Accept": ACCEPT})
        assert opening.status_code == 503, opening.text
        assert int(opening.headers["retry-after"]) >= 1
        assert "mcp-session-id" not in opening.headers
        assert opening.json()["error"]["code"] == STORE_UNAVAILABLE

        own_redis.start()
        await wait_until_healthy(replicas[0].url)
        again = await http.post(url, json=listing, headers=session.headers())
        assert again.status_code == 200 and '"add"' in again.text  # the session outlived the outage


async def test_redis_connectivity_is_logged_at_each_change_without_secrets() -> None:
    """The user's Phase 4 check: the replica's log says whether it reached Redis, then each loss and recovery."""
    redis = RedisServer(password="s3cret-redis-key")  # chosen port, not started yet
    try:
        with running_replicas(1, redis.url()) as replicas:
            replica = replicas[0]

            async def wait_for(event: str, count: int = 1) -> None:
                with anyio.fail_after(15):  # pings run every second
                    while len([r for r in replica.log_records() if r.get("event") == event]) < count:  # noqa: ASYNC110
                        await anyio.sleep(0.1)  # the log is a file another process writes: polling is the way

            await wait_for("redis_unreachable")
            redis.start()
            await wait_for("redis_connected")
            redis.stop()
            await wait_for("redis_lost")
            redis.start()
            await wait_for("redis_restored")
            log = replica.server.log() if replica.server else ""
            records = replica.log_records()
    finally:
        redis.close()
    changes = {"redis_unreachable", "redis_connected", "redis_lost", "redis_restored"}
    lines = [r for r in records if r.get("event") in changes]
    assert [r["event"] for r in lines] == ["redis_unreachable", "redis_connected", "redis_lost", "redis_restored"]
    assert [r["level"] for r in lines] == ["warning", "info", "warning", "info"]
    for line in lines:
        assert (line["redis_host"], line["redis_port"], line["redis_db"]) == ("127.0.0.1", redis.port, 0)
        assert line["redis_tls"] is False and line["redis_auth"] == "password"
    assert lines[3]["down_seconds"] > 0
    assert "s3cret-redis-key" not in log


async def test_a_running_long_task_outlives_a_short_redis_outage(
    own_redis: RedisServer, http: httpx2.AsyncClient
) -> None:
    """Redis goes away after the call began and comes back: the call still runs every step, sends its progress and
    log lines live (they cannot be stored for resumption meanwhile) and answers "done"."""
    steps = 6
    with running_replicas(1, own_redis.url()) as replicas:
        url = replicas[0].mcp_url
        session = RawSession(http, [url])
        await session.open()
        level = {"jsonrpc": "2.0", "id": 1, "method": "logging/setLevel", "params": {"level": "info"}}
        assert (await http.post(url, json=level, headers=session.headers())).status_code == 200
        call = session.call(2, "long_task", {"steps": steps, "delay_seconds": 0.5})
        seen: list[dict[str, Any]] = []
        with anyio.fail_after(20):
            async with http.stream("POST", url, json=call, headers=session.headers()) as response:
                assert response.status_code == 200
                async for event in sse_events(response):
                    if event.data is None:
                        continue
                    seen.append(event.data)
                    if event.data.get("method") == "notifications/progress" and own_redis.running:
                        await anyio.to_thread.run_sync(own_redis.stop)  # the first step is done: the outage begins
                    if event.data.get("id") == 2:
                        break
        own_redis.start()
    methods = [m.get("method") for m in seen]
    assert methods.count("notifications/progress") == steps and methods.count("notifications/message") == steps
    assert seen[-1]["result"]["content"][0]["text"] == "done", seen[-1]
