"""A session-based (legacy wire) session whose every request lands on the next replica: DESIGN.md contracts 1-4, 6.

Two replicas share one real redis-server; the SDK client talks through a round-robin proxy with no affinity, so
consecutive requests of one session alternate between replicas. Each test checks the proxy's record that the
requests it cares about really did land on different replicas.
"""

from __future__ import annotations

import json

import anyio
import httpx2

from prynai_mcp.sampling import mock_sampler
from tests.support.clients import COUNTER, ResourceUpdates, legacy_client
from tests.support.documented import SESSION_NOT_FOUND
from tests.support.raw import RawSession
from tests.support.redis import RedisServer, running_redis
from tests.support.replicas import Replicas, RunningProxy, running_replicas
from tests.support.resumption import check_resumption, check_sessions_do_not_mix


async def test_tool_calls_roam_across_replicas(proxy: RunningProxy) -> None:
    async with legacy_client(proxy.mcp_url) as mcp:
        results = [await mcp.call_tool("add", {"a": n, "b": 1}) for n in range(4)]
        status = json.loads((await mcp.read_resource("prynai://status")).contents[0].text)  # type: ignore[union-attr]
    assert [r.content[0].text for r in results] == ["1", "2", "3", "4"]  # type: ignore[union-attr]
    assert status["backend"] == "redis"
    assert set(proxy.replicas_for("tools/call")) == {0, 1}
    initialize = proxy.replicas_for("initialize")[0]
    assert initialize not in proxy.replicas_for("notifications/initialized")


async def test_sampling_answer_reaches_the_replica_that_asked(proxy: RunningProxy) -> None:
    async with legacy_client(proxy.mcp_url, sampling_callback=mock_sampler) as mcp:
        for text in ("first", "second"):  # twice, so the answer lands on the other replica at least once
            result = await mcp.call_tool("summarize_via_client_llm", {"text": text})
            assert result.content[0].text == f"MOCK:{text}"  # type: ignore[union-attr]
    calls = [hop for hop in proxy.hops if hop.mcp_method == "tools/call"]
    answers = [hop for hop in proxy.hops if hop.http_method == "POST" and hop.mcp_method is None]
    assert len(answers) == 2
    assert any(call.replica != answer.replica for call, answer in zip(calls, answers, strict=True))


async def test_subscription_hears_a_bump_made_on_another_replica(proxy: RunningProxy, replicas: Replicas) -> None:
    updates = ResourceUpdates()

    async with legacy_client(proxy.mcp_url, message_handler=updates) as subscriber:
        await subscriber.subscribe_resource("prynai://counter")
        get_stream = next(hop.replica for hop in proxy.hops if hop.http_method == "GET")
        # Bump through the replica that does NOT hold the subscriber's GET stream.
        async with legacy_client(replicas[1 - get_stream].mcp_url) as other:
            await other.call_tool("bump_counter", {})
        with anyio.fail_after(10):
            await updates.arrived.wait()
    assert updates.uris == ["prynai://counter"]


async def test_last_event_id_resumes_on_the_other_replica(replicas: Replicas, http: httpx2.AsyncClient) -> None:
    # RawSession alternates between the two URLs on every request: the break and the resume hit different replicas.
    await check_resumption([replicas[0].mcp_url, replicas[1].mcp_url], http)


async def test_sessions_reusing_request_ids_never_mix_across_replicas(
    replicas: Replicas, http: httpx2.AsyncClient
) -> None:
    await check_sessions_do_not_mix([replicas[0].mcp_url, replicas[1].mcp_url], http)


async def test_delete_ends_the_session_on_every_replica(
    redis: RedisServer, replicas: Replicas, http: httpx2.AsyncClient
) -> None:
    """DELETE removes the record, the event log, the log level and the subscriptions (docs/sessions.md, step 6)."""
    session = RawSession(http, [replicas[0].mcp_url, replicas[1].mcp_url])
    sid = await session.open()
    for request_id, method, params in (
        (1, "resources/subscribe", {"uri": COUNTER}),
        (2, "logging/setLevel", {"level": "debug"}),
    ):
        done = await http.post(
            session.url(),
            json={"jsonrpc": "2.0", "id": request_id, "method": method, "params": params},
            headers=session.headers(),
        )
        assert done.status_code == 200, done.text
    for replica in replicas:  # both replicas serve it (and so hold a local copy); progress makes it a logged stream
        ok = await http.post(
            replica.mcp_url, json=session.call(10 + replica.index, "long_task", {"steps": 1}), headers=session.headers()
        )
        assert ok.status_code == 200 and "done" in ok.text
    store = redis.client()
    kept = {key for key in store.keys("*") if sid in key}
    assert {f"prynai:session:{sid}", f"prynai:session:{sid}:loglevel", f"prynai:session:{sid}:subs"} <= kept, kept
    assert any(":stream:" in key for key in kept), kept
    assert store.zscore(f"prynai:sub:{COUNTER}", sid) is not None

    assert (await http.delete(replicas[0].mcp_url, headers=session.headers())).status_code == 200
    assert {key for key in store.keys("*") if sid in key} == set()
    assert store.zscore(f"prynai:sub:{COUNTER}", sid) is None
    for replica in replicas:
        gone = await http.post(
            replica.mcp_url, json=session.call(20, "add", {"a": 1, "b": 1}), headers=session.headers()
        )
        assert gone.status_code == 404
        assert gone.json()["error"]["message"] == SESSION_NOT_FOUND


async def test_a_session_survives_restarting_every_replica_and_redis(http: httpx2.AsyncClient) -> None:
    with running_redis(appendonly=True) as redis, running_replicas(2, redis.url()) as replicas:
        session = RawSession(http, [replicas[0].mcp_url, replicas[1].mcp_url])
        await session.open()
        bump = session.call(1, "bump_counter", {"by": 3})
        first = await http.post(session.url(), json=bump, headers=session.headers())
        assert '"text":"3"' in first.text

        replicas.stop_all()
        redis.restart()
        replicas.start_all()

        again = await http.post(session.url(), json=session.call(2, "bump_counter", {}), headers=session.headers())
        assert again.status_code == 200, again.text
        assert '"text":"4"' in again.text  # same session id, and the counter kept its value


async def test_idle_sessions_expire_on_every_replica(redis: RedisServer, http: httpx2.AsyncClient) -> None:
    idle = 1.5
    env = {"PRYNAI_SESSION_IDLE_SECONDS": str(idle), "PRYNAI_REDIS_PREFIX": "idle-test"}
    with running_replicas(2, redis.url(), env=env) as short_lived:
        session, used = (RawSession(http, [short_lived[0].mcp_url, short_lived[1].mcp_url]) for _ in range(2))
        await session.open()
        await used.open()
        for _ in range(3):  # one session used every half idle period, the other left alone
            await anyio.sleep(idle / 2)
            assert (
                await http.post(used.url(), json=used.call(1, "echo", {"text": "x"}), headers=used.headers())
            ).status_code == 200
        await anyio.sleep(idle / 2 + 0.5)  # the other is now past its idle time by a margin
        for replica in short_lived:
            expired = await http.post(
                replica.mcp_url, json=session.call(1, "add", {"a": 1, "b": 1}), headers=session.headers()
            )
            assert expired.status_code == 404
            assert expired.json()["error"]["message"] == SESSION_NOT_FOUND
