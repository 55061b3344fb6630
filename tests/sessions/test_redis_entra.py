"""Redis with Microsoft Entra ID (Azure Managed Redis with access keys disabled), locally: a real redis-server whose
ACL user is the managed identity's object id and whose password is a token from a stand-in of the managed-identity
endpoint Azure Container Apps gives apps. Tokens live seconds here; the server keeps serving across rotations."""

from __future__ import annotations

import anyio
import httpx2
import pytest

from tests.support.clients import client, read_counter
from tests.support.managed_identity import running_managed_identity
from tests.support.redis import RedisServer
from tests.support.replicas import running_replicas

LIFETIME = 6.0  # seconds a token lives; renewed at 70%, so about every 4 s


@pytest.fixture
def locked_redis() -> RedisServer:
    """A Redis whose default user needs a password the server is never given (as with access keys disabled)."""
    server = RedisServer(password="admin-only")
    server.start()
    return server


async def test_the_server_signs_in_with_its_managed_identity_and_keeps_serving_across_token_rotations(
    locked_redis: RedisServer, http: httpx2.AsyncClient
) -> None:
    admin = locked_redis.client()
    try:
        with running_managed_identity(admin, lifetime=LIFETIME) as identity:
            env = {**identity.env(), "PRYNAI_REDIS_PREFIX": "entra"}
            url = f"redis://127.0.0.1:{locked_redis.port}/0"  # no password anywhere
            with running_replicas(1, url, env=env) as replicas:
                replica = replicas[0]
                assert (await http.get(f"{replica.url}/healthz")).json() == {"status": "ok", "redis": True}
                async with client(replica.mcp_url, "modern") as mcp:
                    before = await read_counter(mcp)
                    bumps = 0
                    ends = anyio.current_time() + 3 * LIFETIME  # three token lifetimes of calls
                    while anyio.current_time() < ends:
                        result = await mcp.call_tool("bump_counter", {})
                        assert not result.is_error, result
                        bumps += 1
                        await anyio.sleep(0.25)
                    assert await read_counter(mcp) == before + bumps
                records = replica.log_records()
                # Open connections were signed in again with each new token, not only new ones: Redis counts more
                # sign-ins (AUTH, or HELLO with AUTH) than connections it ever accepted (each connection, ours and
                # this test's, signs in once when it opens).
                stats = admin.info("commandstats")
                sign_ins = sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("auth", "hello"))
                connections = int(admin.info("stats")["total_connections_received"])
                assert sign_ins > connections, (sign_ins, connections)
                assert admin.acl_log() == []  # no sign-in was refused
    finally:
        locked_redis.close()
    connected = [r for r in records if r.get("event") == "redis_connected"]
    assert connected and connected[0]["redis_auth"] == f"entra (managed identity {identity.identity.client_id})"
    assert identity.identity.refused == 0
    assert not [r for r in records if r.get("event") in ("redis_lost", "store_unavailable")], records
    for token in identity.identity.issued:
        assert token not in replica_log_text(records)


def replica_log_text(records: list[dict[str, object]]) -> str:
    return "\n".join(str(record) for record in records)
