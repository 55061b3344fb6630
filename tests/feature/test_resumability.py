"""A broken SSE stream resumes with Last-Event-ID: every event after that id exactly once, in order, then the rest.

Contract 4 of DESIGN.md within one process; tests/sessions runs the same checks across replicas.
"""

from __future__ import annotations

import httpx2

from tests.support.raw import RawSession
from tests.support.resumption import check_resumption, check_sessions_do_not_mix
from tests.support.server import RunningServer


async def test_last_event_id_resumes_a_broken_request_stream(server: RunningServer, http: httpx2.AsyncClient) -> None:
    await check_resumption([server.mcp_url], http)


async def test_two_sessions_reusing_a_request_id_never_mix(server: RunningServer, http: httpx2.AsyncClient) -> None:
    await check_sessions_do_not_mix([server.mcp_url], http)


async def test_unknown_last_event_id_is_400(server: RunningServer, http: httpx2.AsyncClient) -> None:
    session = RawSession(http, [server.mcp_url])
    await session.open()
    response = await http.get(
        server.mcp_url, headers=session.headers(**{"Last-Event-ID": "garbage", "Accept": "text/event-stream"})
    )
    assert response.status_code == 400
    assert "Last-Event-ID" in response.json()["error"]["message"]


async def test_delete_ends_the_session(server: RunningServer, http: httpx2.AsyncClient) -> None:
    session = RawSession(http, [server.mcp_url])
    await session.open()
    assert (await http.delete(server.mcp_url, headers=session.headers())).status_code == 200
    after = await http.post(server.mcp_url, json=session.call(1, "add", {"a": 1, "b": 2}), headers=session.headers())
    assert after.status_code == 404
