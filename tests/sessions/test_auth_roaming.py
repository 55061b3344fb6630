"""Entra ID protection with Redis and two replicas (DESIGN.md contract 6): a session roams for its owner, and a
session presented with another principal's token answers 404 on every replica, as if it did not exist."""

from __future__ import annotations

import httpx2
from entra_standin import RunningStandIn

from tests.support.documented import INVALID_REQUEST, SESSION_NOT_FOUND
from tests.support.raw import RawSession
from tests.support.redis import RedisServer
from tests.support.replicas import running_replicas


async def test_a_session_answers_its_owner_everywhere_and_no_one_else(
    redis: RedisServer, standin: RunningStandIn
) -> None:
    owner = standin.authority.mint(standin.authority.add_client(roles=["Mcp.Invoke"]))
    intruder = standin.authority.mint(standin.authority.add_client(roles=["Mcp.Invoke"]))
    env = standin.server_env(ENTRA_REQUIRED_APP_ROLES="Mcp.Invoke", PRYNAI_REDIS_PREFIX="auth-roaming")
    with running_replicas(2, redis.url(), env=env) as replicas:
        urls = [replicas[0].mcp_url, replicas[1].mcp_url]
        async with (
            httpx2.AsyncClient(trust_env=False, timeout=30, headers={"Authorization": f"Bearer {owner}"}) as mine,
            httpx2.AsyncClient(trust_env=False, timeout=30, headers={"Authorization": f"Bearer {intruder}"}) as theirs,
        ):
            session = RawSession(mine, urls)
            await session.open()  # initialize on replica 0, initialized on replica 1
            for url in urls:
                served = await mine.post(url, json=session.call(1, "add", {"a": 1, "b": 2}), headers=session.headers())
                assert served.status_code == 200 and '"text":"3"' in served.text, served.text
                stolen = await theirs.post(
                    url, json=session.call(2, "add", {"a": 1, "b": 2}), headers=session.headers()
                )
                assert stolen.status_code == 404
                assert stolen.json()["error"] == {"code": INVALID_REQUEST, "message": SESSION_NOT_FOUND}
            # The refusals took nothing from the owner.
            again = await mine.post(urls[1], json=session.call(3, "add", {"a": 2, "b": 2}), headers=session.headers())
            assert again.status_code == 200 and '"text":"4"' in again.text
