"""No client can hold more than its share: GET streams per session, subscriptions per session and sessions per
principal are bounded, on one process and across replicas (counted in Redis, so two replicas allow no more than
one), and every refusal says which bound it met.

Each test runs on the embedded backend (one server) and on Redis with two replicas, requests alternating between
them (`RawSession` turns to the next URL for every request).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any

import anyio
import httpx2
import pytest

from tests.support.backends import BACKENDS, serving_on
from tests.support.documented import INVALID_PARAMS, LIMIT_EXCEEDED, SESSION_NOT_FOUND
from tests.support.raw import PROTOCOL, RawSession, initialize_body, sse_events
from tests.support.redis import running_redis
from tests.support.replicas import running_replicas

LIMITS = {
    "PRYNAI_MAX_STREAMS_PER_SESSION": "2",
    "PRYNAI_MAX_SUBSCRIPTIONS_PER_SESSION": "3",
    "PRYNAI_MAX_SESSIONS_PER_PRINCIPAL": "3",
}


@pytest.fixture(scope="module", params=BACKENDS)
def urls(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    with serving_on(request.param, LIMITS) as found:
        yield found


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(trust_env=False, timeout=10) as client:
        yield client


def from_address(address: str) -> httpx2.AsyncClient:
    """A client whose connections come from another loopback address: another principal, with auth off."""
    transport = httpx2.AsyncHTTPTransport(local_address=address)
    return httpx2.AsyncClient(trust_env=False, timeout=10, transport=transport)


async def end(session: RawSession) -> None:
    response = await session.http.delete(session.url(), headers=session.headers())
    assert response.status_code == 200, response.text


def error_of(response: httpx2.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = json.loads(response.content)
    assert body["jsonrpc"] == "2.0"
    error: dict[str, Any] = body["error"]
    return error


async def rpc(session: RawSession, request_id: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """One request's answer, whether it comes as a JSON body or an SSE stream."""
    body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    async with session.http.stream("POST", session.url(), json=body, headers=session.headers()) as response:
        assert response.status_code == 200, await response.aread()
        if response.headers["content-type"].startswith("application/json"):
            answer: dict[str, Any] = json.loads(await response.aread())
            return answer
        async for event in sse_events(response):
            if event.data and event.data.get("id") == request_id:
                return event.data
    raise AssertionError("no answer")


# --- sessions per principal -------------------------------------------------------------------------------------


async def test_a_principal_past_its_sessions_gets_429_and_no_session_until_one_ends(
    urls: list[str], http: httpx2.AsyncClient
) -> None:
    sessions = [RawSession(http, urls) for _ in range(3)]
    for session in sessions:
        await session.open()

    refused = await http.post(urls[-1], json=initialize_body(7), headers=RawSession(http, urls).headers())
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert "mcp-session-id" not in refused.headers
    error = error_of(refused)
    assert error["code"] == LIMIT_EXCEEDED
    assert error["data"] == {"limit": "PRYNAI_MAX_SESSIONS_PER_PRINCIPAL", "max": 3}
    assert json.loads(refused.content)["id"] == 7

    # Another principal (another client address) is not affected.
    async with from_address("127.0.0.2") as elsewhere:
        other = RawSession(elsewhere, urls)
        await other.open()
        await end(other)

    # Ending one (on either replica) frees its place at once.
    await end(sessions[0])
    again = RawSession(http, urls)
    await again.open()
    for session in [*sessions[1:], again]:
        await end(session)


async def test_an_oversized_initialize_is_refused_and_opens_nothing(urls: list[str], http: httpx2.AsyncClient) -> None:
    body = initialize_body(1)
    body["params"]["clientInfo"] = {"name": "x" * 400_000, "version": "1"}
    refused = await http.post(urls[0], json=body, headers=RawSession(http, urls).headers())
    assert refused.status_code == 400
    assert "mcp-session-id" not in refused.headers
    error = error_of(refused)
    assert error["code"] == INVALID_PARAMS and "clientInfo" in error["message"]

    body = initialize_body(2)
    body["params"]["capabilities"] = {"experimental": {"blob": "y" * 100_000}}
    refused = await http.post(urls[0], json=body, headers=RawSession(http, urls).headers())
    assert refused.status_code == 400 and "capabilities" in error_of(refused)["message"]

    # Refusals took no place in the principal's count: three sessions still open.
    sessions = [RawSession(http, urls) for _ in range(3)]
    for session in sessions:
        await session.open()
    for session in sessions:
        await end(session)


# --- GET streams per session ------------------------------------------------------------------------------------


async def test_a_session_past_its_open_streams_gets_409_until_one_closes(
    urls: list[str], http: httpx2.AsyncClient
) -> None:
    session = RawSession(http, urls)
    await session.open()
    headers = session.headers(Accept="text/event-stream")
    async with AsyncExitStack() as held:
        for _ in range(2):  # one on each replica with Redis
            stream = await held.enter_async_context(http.stream("GET", session.url(), headers=headers))
            assert stream.status_code == 200
        for _ in range(2):
            refused = await http.get(session.url(), headers=headers)
            assert refused.status_code == 409
            error = error_of(refused)
            assert error["code"] == LIMIT_EXCEEDED
            assert error["data"] == {"limit": "PRYNAI_MAX_STREAMS_PER_SESSION", "max": 2}
    # Both closed: their places are free again (as soon as the server has seen the disconnects).
    with anyio.fail_after(10):
        while True:
            async with http.stream("GET", session.url(), headers=headers) as stream:
                if stream.status_code == 200:
                    break
            await anyio.sleep(0.1)
    await end(session)


# --- subscriptions per session ----------------------------------------------------------------------------------


async def test_subscriptions_are_bounded_and_only_to_what_the_server_serves(
    urls: list[str], http: httpx2.AsyncClient
) -> None:
    session = RawSession(http, urls)
    await session.open()
    for index, uri in enumerate(["prynai://counter", "hello://ada", "hello://grace"]):
        answer = await rpc(session, 10 + index, "resources/subscribe", {"uri": uri})
        assert answer.get("result") == {}, answer
    # Subscribing again to one it holds is fine; a fourth is refused.
    assert (await rpc(session, 20, "resources/subscribe", {"uri": "hello://ada"})).get("result") == {}
    refused = await rpc(session, 21, "resources/subscribe", {"uri": "prynai://status"})
    assert refused["error"]["code"] == LIMIT_EXCEEDED
    assert refused["error"]["data"] == {"limit": "PRYNAI_MAX_SUBSCRIPTIONS_PER_SESSION", "max": 3}
    # After an unsubscribe there is room again.
    assert (await rpc(session, 22, "resources/unsubscribe", {"uri": "hello://ada"})).get("result") == {}
    assert (await rpc(session, 23, "resources/subscribe", {"uri": "prynai://status"})).get("result") == {}

    unknown = await rpc(session, 24, "resources/subscribe", {"uri": "nothing://here"})
    assert unknown["error"]["code"] == INVALID_PARAMS
    await end(session)


# --- strict edges -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [":streams", ":stream:_GET_stream", ":loglevel", ":subs", "X", ":inflight"])
async def test_a_session_id_not_of_the_servers_form_is_unknown(
    urls: list[str], http: httpx2.AsyncClient, suffix: str
) -> None:
    session = RawSession(http, urls)
    real = await session.open()
    for method in ("GET", "POST", "DELETE"):
        headers = session.headers(**{"Mcp-Session-Id": real + suffix})
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}) if method == "POST" else None
        answer = await http.request(method, urls[0], content=body, headers=headers)
        assert answer.status_code == 404, (method, answer.text)
        assert error_of(answer)["message"] == SESSION_NOT_FOUND
    await end(session)


async def test_a_resumed_stream_must_be_one_of_the_sessions(urls: list[str], http: httpx2.AsyncClient) -> None:
    session = RawSession(http, urls)
    await session.open()
    # Unknown streams, and entries neither backend writes (they used to pass: a 200 that was cut, or never ended).
    malformed = ["abc._GET_stream", "-1._GET_stream", "*._GET_stream", "1-0-0._GET_stream", "._GET_stream", "7."]
    for last_event_id in ["1-0.99", "5.nope", "0.17", *malformed]:
        headers = session.headers(Accept="text/event-stream", **{"Last-Event-ID": last_event_id})
        answer = await http.get(session.url(), headers=headers)
        assert answer.status_code == 400, (last_event_id, answer.text)
        assert "Last-Event-ID" in error_of(answer)["message"]
    await end(session)


async def test_a_resumed_request_stream_whose_answer_was_read_ends_at_once(
    urls: list[str], http: httpx2.AsyncClient
) -> None:
    session = RawSession(http, urls)
    await session.open()
    body = session.call(3, "long_task", {"steps": 2, "delay_seconds": 0.3})
    last: str | None = None
    async with http.stream("POST", session.url(), json=body, headers=session.headers()) as response:
        async for event in sse_events(response):
            last = event.id or last
            if event.data and event.data.get("id") == 3:
                break
    assert last is not None
    headers = session.headers(Accept="text/event-stream", **{"Last-Event-ID": last})
    # The request is over and its answer was delivered: the stream ends with nothing in it (it used to stay open,
    # sending keep-alives, until the client gave up). The limit only keeps a regression from hanging the suite.
    with anyio.fail_after(8):
        async with http.stream("GET", session.url(), headers=headers) as resumed:
            assert resumed.status_code == 200
            events = [event async for event in sse_events(resumed)]
    assert [event for event in events if event.data] == []
    await end(session)


__all__ = ["PROTOCOL"]


# --- local copies are a cache -----------------------------------------------------------------------------------


async def test_a_replica_full_of_local_copies_drops_idle_ones_instead_of_refusing(http: httpx2.AsyncClient) -> None:
    """PRYNAI_MAX_SESSIONS=2: replica A holds two local copies; a session opened on B and used on A, and a third
    session opened on A, are still served (the least recently used idle copy makes room), and the dropped ones come
    back from Redis when used again."""
    env = {"PRYNAI_MAX_SESSIONS": "2"}
    with running_redis() as redis, running_replicas(2, redis.url(), env) as replicas:
        a, b = (replica.mcp_url for replica in replicas)
        sessions = [RawSession(http, [a]), RawSession(http, [a]), RawSession(http, [b]), RawSession(http, [a])]
        for session in sessions:
            await session.open()
        sessions[2].urls = [a]  # opened on B, now used on A, which holds two copies already
        for round_ in range(2):
            for index, session in enumerate(sessions):
                answer = await rpc(
                    session, 100 + 10 * round_ + index, "tools/call", {"name": "add", "arguments": {"a": index, "b": 1}}
                )
                assert answer["result"]["structuredContent"] == {"result": index + 1}, answer
        assert any(record.get("event") == "session_evict" for record in replicas[0].log_records())
        for session in sessions:
            await end(session)


# --- what a request may carry -----------------------------------------------------------------------------------


async def test_a_progress_token_larger_than_the_server_keeps_is_refused(
    urls: list[str], http: httpx2.AsyncClient
) -> None:
    session = RawSession(http, urls)
    await session.open()
    body = session.call(5, "long_task", {"steps": 1, "delay_seconds": 0})
    body["params"]["_meta"]["progressToken"] = "t" * 300
    answer = await rpc(session, 5, "tools/call", body["params"])
    assert answer["error"]["code"] == INVALID_PARAMS and "progressToken" in answer["error"]["message"]
    body["params"]["_meta"]["progressToken"] = "t" * 200
    assert (await rpc(session, 6, "tools/call", body["params"]))["result"]["content"][0]["text"] == "done"
    await end(session)


async def test_the_counter_is_signed_64_bit_on_every_backend(urls: list[str], http: httpx2.AsyncClient) -> None:
    session = RawSession(http, urls)
    await session.open()
    before = (await rpc(session, 1, "resources/read", {"uri": "prynai://counter"}))["result"]["contents"][0]["text"]
    answer = await rpc(session, 2, "tools/call", {"name": "bump_counter", "arguments": {"by": 2**63}})
    assert answer["result"]["isError"] is True, answer
    after = (await rpc(session, 3, "resources/read", {"uri": "prynai://counter"}))["result"]["contents"][0]["text"]
    assert after == before
    await end(session)
