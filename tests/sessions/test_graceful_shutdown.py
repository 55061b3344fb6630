"""SIGTERM drains a replica: open streams are handed over, running requests finish, and no session is lost.

The graceful counterpart of test_replica_death (SIGKILL). Real replicas share one real Redis; the victim is stopped
with SIGTERM as Azure Container Apps does. Its GET streams must end at once with a `retry:` hint and their position,
its running requests must finish within PRYNAI_SHUTDOWN_GRACE_SECONDS, `/healthz` must say "draining" meanwhile, new
requests must be refused with 503, and the process must exit 0. A request that outlives the grace is answered
"interrupted" by the survivor. Balancers are the round-robin proxy with `/healthz` checks.
"""

from __future__ import annotations

import functools
import json
import signal
import subprocess
from typing import Any

import anyio
import anyio.abc
import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from tests.support.clients import ResourceUpdates, legacy_client
from tests.support.documented import INTERRUPTED, PARSE_ERROR, SHUTTING_DOWN
from tests.support.raw import RawSession, SseEvent, sse_events
from tests.support.redis import RedisServer
from tests.support.replicas import Replica, round_robin_proxy, running_replicas
from tests.support.waiting import eventually

GRACE = 3.0  # long enough for the requests below (2 s) to finish, short enough to keep the tests quick
COUNTER = "prynai://counter"
UPDATED = "notifications/resources/updated"
RETRY_MS = 1000  # PRYNAI_SSE_RETRY_MS, default


def replica_env(grace: float) -> dict[str, str]:
    return {"PRYNAI_SHUTDOWN_GRACE_SECONDS": str(grace)}


def sigterm(replica: Replica) -> subprocess.Popen[bytes]:
    return stop_with(replica, signal.SIGTERM)


def stop_with(replica: Replica, stop_signal: signal.Signals) -> subprocess.Popen[bytes]:
    assert replica.server is not None
    process = replica.server.process
    process.send_signal(stop_signal)
    return process


async def exit_status(process: subprocess.Popen[bytes], within: float) -> int:
    """The exit status, waited for in a thread; `subprocess.TimeoutExpired` (a failure) after `within` seconds."""
    return await anyio.to_thread.run_sync(functools.partial(process.wait, timeout=within))


async def rpc(http: httpx2.AsyncClient, url: str, session: RawSession, message: dict[str, Any]) -> dict[str, Any]:
    """Send one request and return its answer, whether it comes as a JSON body or on an SSE stream."""
    async with http.stream("POST", url, json=message, headers=session.headers()) as response:
        assert response.status_code == 200, await response.aread()
        if response.headers["content-type"].startswith("application/json"):
            answer: dict[str, Any] = json.loads(await response.aread())
            return answer
        async for event in sse_events(response):
            if event.data and event.data.get("id") == message["id"]:
                return event.data
    raise AssertionError(f"no answer to {message}")


def updates_in(events: list[SseEvent]) -> list[SseEvent]:
    return [event for event in events if event.data and event.data.get("method") == UPDATED]


def progress_in(events: list[SseEvent]) -> list[float]:
    return [e.data["params"]["progress"] for e in events if e.data and e.data.get("method") == "notifications/progress"]


def text_of(answer: dict[str, Any]) -> str:
    return str(answer["result"]["content"][0]["text"])


async def test_sigterm_hands_the_get_stream_over_and_lets_the_running_request_finish(
    redis: RedisServer, http: httpx2.AsyncClient
) -> None:
    with running_replicas(2, redis.url(), env=replica_env(GRACE)) as replicas:
        a, b = replicas[0], replicas[1]
        session = RawSession(http, [a.mcp_url])
        await session.open()
        subscribe = {"jsonrpc": "2.0", "id": 1, "method": "resources/subscribe", "params": {"uri": COUNTER}}
        assert "result" in await rpc(http, a.mcp_url, session, subscribe)

        get_events: list[SseEvent] = []
        call_events: list[SseEvent] = []
        heard, progressed, get_ended, answered = anyio.Event(), anyio.Event(), anyio.Event(), anyio.Event()
        ended_at: dict[str, float] = {}

        async def hold_get_stream(*, task_status: anyio.abc.TaskStatus[None]) -> None:
            headers = session.headers(Accept="text/event-stream")
            async with http.stream("GET", a.mcp_url, headers=headers) as response:
                assert response.status_code == 200
                task_status.started()
                async for event in sse_events(response):
                    get_events.append(event)
                    if updates_in([event]):
                        heard.set()
            ended_at["get"] = anyio.current_time()
            get_ended.set()

        async def run_long_task() -> None:
            call = session.call(2, "long_task", {"steps": 8, "delay_seconds": 0.25})
            async with http.stream("POST", a.mcp_url, json=call, headers=session.headers()) as response:
                async for event in sse_events(response):
                    call_events.append(event)
                    if progress_in([event]):
                        progressed.set()
            ended_at["call"] = anyio.current_time()
            answered.set()

        async with anyio.create_task_group() as tasks:
            with anyio.fail_after(10):
                await tasks.start(hold_get_stream)
                await rpc(http, a.mcp_url, session, session.call(3, "bump_counter", {}))
                await heard.wait()  # the GET stream on A carries the session's notifications
                tasks.start_soon(run_long_task)
                await progressed.wait()
            process = sigterm(a)
            signalled = anyio.current_time()

            with anyio.fail_after(3):
                await get_ended.wait()
            assert ended_at["get"] - signalled < 2
            handover = get_events[-1]
            assert handover.data is None and handover.retry == RETRY_MS, handover
            assert handover.id is not None and handover.id.endswith("._GET_stream")
            assert not answered.is_set()  # the GET stream did not wait for the running request

            with anyio.fail_after(GRACE + 2):
                await answered.wait()
        assert progress_in(call_events) == [float(step) for step in range(1, 9)]  # the POST stream was never cut
        final = [event.data for event in call_events if event.data and event.data.get("id") == 2]
        assert len(final) == 1 and text_of(final[0]) == "done"
        assert ended_at["call"] - signalled < GRACE
        assert await exit_status(process, within=GRACE + 5) == 0

        # The session goes on on B, and A's GET stream resumes there from the position it handed over.
        assert text_of(await rpc(http, b.mcp_url, session, session.call(4, "add", {"a": 20, "b": 22}))) == "42"
        for request_id in (5, 6):
            await rpc(http, b.mcp_url, session, session.call(request_id, "bump_counter", {}))
        resumed: list[SseEvent] = []
        assert handover.id is not None
        headers = session.headers(**{"Accept": "text/event-stream", "Last-Event-ID": handover.id})
        async with http.stream("GET", b.mcp_url, headers=headers) as response:
            assert response.status_code == 200
            events = sse_events(response)
            with anyio.fail_after(5):
                while len(updates_in(resumed)) < 2:
                    resumed.append(await anext(events))
            with anyio.move_on_after(1):  # anything more would be a duplicate
                while True:
                    resumed.append(await anext(events))
        assert len(updates_in(get_events)) == 1
        assert len(updates_in(resumed)) == 2  # the two later bumps, each once; the first one is not replayed
        ids = [event.id for event in get_events + resumed if event.data]
        assert len(ids) == len(set(ids))


async def test_an_sdk_client_keeps_its_session_across_a_sigterm(redis: RedisServer) -> None:
    with (
        running_replicas(2, redis.url(), env=replica_env(GRACE)) as replicas,
        round_robin_proxy(replicas.urls, health_interval=0.1) as proxy,
    ):
        updates = ResourceUpdates()
        async with legacy_client(proxy.mcp_url, message_handler=updates) as mcp:
            await mcp.subscribe_resource(COUNTER)
            victim = next(hop.replica for hop in proxy.hops if hop.http_method == "GET")  # it holds the GET stream
            survivor = 1 - victim
            if len(proxy.hops) % 2 != victim:  # round robin: make the long call land on the victim too
                await mcp.call_tool("add", {"a": 1, "b": 1})

            outcome: list[str] = []
            progressed, answered = anyio.Event(), anyio.Event()

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                progressed.set()

            async def long_call() -> None:
                result = await mcp.call_tool(
                    "long_task", {"steps": 8, "delay_seconds": 0.25}, progress_callback=on_progress
                )
                outcome.append(result.content[0].text)  # type: ignore[union-attr]
                answered.set()

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(long_call)
                with anyio.fail_after(10):
                    await progressed.wait()
                assert proxy.replicas_for("tools/call")[-1] == victim
                sent_before = len(proxy.hops)
                process = sigterm(replicas[victim])
                await eventually(lambda: victim not in proxy.in_rotation(), 3)  # the balancer heard "draining"
                with anyio.fail_after(GRACE + 2):
                    await answered.wait()
            assert outcome == ["done"]
            assert await exit_status(process, within=GRACE + 5) == 0

            results = [await mcp.call_tool("add", {"a": n, "b": 1}) for n in range(3)]
            assert [r.content[0].text for r in results] == ["1", "2", "3"]  # type: ignore[union-attr]
            assert proxy.replicas_for("tools/call")[-3:] == [survivor] * 3

            # The client's GET stream reconnected to the survivor: a change still reaches it.
            heard_before = len(updates.uris)
            await mcp.call_tool("bump_counter", {})
            await eventually(lambda: len(updates.uris) > heard_before, 5)
            later = proxy.hops[sent_before:]
            assert any(hop.http_method == "GET" and hop.replica == survivor for hop in later)
            assert all(hop.replica == survivor for hop in later)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT (Ctrl+C)"])
async def test_a_draining_replica_says_so_and_takes_no_new_request(
    redis: RedisServer, http: httpx2.AsyncClient, stop_signal: signal.Signals
) -> None:
    with running_replicas(2, redis.url(), env=replica_env(GRACE)) as replicas:
        a, b = replicas[0], replicas[1]
        session = RawSession(http, [a.mcp_url])
        await session.open()
        progressed, answered = anyio.Event(), anyio.Event()
        answer: list[dict[str, Any]] = []

        async def run_long_task() -> None:
            call = session.call(1, "long_task", {"steps": 8, "delay_seconds": 0.25})
            async with http.stream("POST", a.mcp_url, json=call, headers=session.headers()) as response:
                async for event in sse_events(response):
                    if progress_in([event]):
                        progressed.set()
                    if event.data and event.data.get("id") == 1:
                        answer.append(event.data)
            answered.set()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run_long_task)
            with anyio.fail_after(10):
                await progressed.wait()
            process = stop_with(a, stop_signal)

            with anyio.fail_after(2):
                while True:  # a balancer's probe polls too
                    health = await http.get(f"{a.url}/healthz")
                    if health.status_code != 200:
                        break
                    await anyio.sleep(0.05)
            assert health.status_code == 503
            assert health.json() == {"status": "draining", "redis": True}
            live = await http.get(f"{a.url}/livez")  # alive while it drains: no platform restart is wanted
            assert live.status_code == 200 and live.json() == {"status": "ok"}
            readiness = await http.get(f"{a.url}/readyz")
            assert readiness.status_code == 503 and readiness.json() == {"status": "draining", "redis": True}
            assert (await http.get(f"{b.url}/healthz")).json()["status"] == "ok"

            # A new request: refused, with a JSON-RPC error body and a hint to come back (elsewhere).
            call = session.call(2, "add", {"a": 1, "b": 2})
            refused = await http.post(a.mcp_url, json=call, headers=session.headers())
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["error"]["code"] == SHUTTING_DOWN
            # A body nested too deep for any parser carries no request: the parse error, as outside a drain.
            deep = "[" * 100_000 + "]" * 100_000
            malformed = await http.post(a.mcp_url, content=deep, headers=session.headers())
            assert malformed.status_code == 400 and malformed.json()["error"]["code"] == PARSE_ERROR
            # What finishes running work still passes: a notification is accepted.
            notification = {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}
            assert (await http.post(a.mcp_url, json=notification, headers=session.headers())).status_code == 202
            # A GET stream opened now ends at once, with its position and a retry hint.
            with anyio.fail_after(2):
                async with http.stream("GET", a.mcp_url, headers=session.headers(Accept="text/event-stream")) as got:
                    assert got.status_code == 200
                    opened = [event async for event in sse_events(got)]
            assert len(opened) == 1 and opened[0].retry == RETRY_MS and opened[0].data is None

            assert not answered.is_set()  # all of this happened while the request ran, within the grace period
            assert (await http.get(f"{a.url}/healthz")).status_code == 503
            with anyio.fail_after(GRACE + 2):
                await answered.wait()
        assert len(answer) == 1 and text_of(answer[0]) == "done"
        assert await exit_status(process, within=GRACE + 5) == 0


async def test_a_request_outliving_the_grace_is_answered_interrupted_by_the_survivor(redis: RedisServer) -> None:
    grace = 1.5
    with (
        running_replicas(2, redis.url(), env=replica_env(grace)) as replicas,
        round_robin_proxy(replicas.urls, health_interval=0.1) as proxy,
    ):
        async with legacy_client(proxy.mcp_url) as mcp:
            outcome: list[BaseException | str] = []
            progressed, answered, exited = anyio.Event(), anyio.Event(), anyio.Event()
            times: dict[str, float] = {}

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                progressed.set()

            async def long_call() -> None:
                try:
                    result = await mcp.call_tool(
                        "long_task", {"steps": 40, "delay_seconds": 0.25}, progress_callback=on_progress
                    )
                    outcome.append(result.content[0].text)  # type: ignore[union-attr]
                except MCPError as error:
                    outcome.append(error)
                times["answered"] = anyio.current_time()
                answered.set()

            async def watch_exit(process: subprocess.Popen[bytes]) -> None:
                times["status"] = await exit_status(process, within=grace + 8)
                times["exited"] = anyio.current_time()
                exited.set()

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(long_call)
                with anyio.fail_after(10):
                    await progressed.wait()
                victim = proxy.replicas_for("tools/call")[-1]
                process = sigterm(replicas[victim])
                signalled = anyio.current_time()
                tasks.start_soon(watch_exit, process)
                with anyio.fail_after(grace + 10):
                    await answered.wait()
                    await exited.wait()

            (error,) = outcome
            assert isinstance(error, MCPError), error
            assert error.error.code == INTERRUPTED
            assert "interrupted" in error.error.message
            assert times["status"] == 0
            assert times["exited"] - signalled < grace + 5
            # Promptly: the client's reconnect delay and one check period of the survivor, not the 10 s of the task.
            assert times["answered"] - times["exited"] < 3

            after = await mcp.call_tool("add", {"a": 20, "b": 22})  # the session itself was not lost
            assert after.content[0].text == "42"  # type: ignore[union-attr]
