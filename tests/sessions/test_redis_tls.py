"""`rediss://` as Azure's Redis offers it (TLS only, on 6380 for Azure Cache for Redis with an access key): the
replicas connect with the CA they are told to trust, the URL's password signs them in, and sessions roam."""

from __future__ import annotations

import httpx2

from tests.support.raw import RawSession
from tests.support.redis import running_redis
from tests.support.replicas import running_replicas


async def test_replicas_share_state_over_tls_with_an_access_key(http: httpx2.AsyncClient) -> None:
    with running_redis(tls=True, password="access-key") as redis:
        assert redis.url().startswith("rediss://:access-key@127.0.0.1:")
        env = {"SSL_CERT_FILE": str(redis.ca_path), "PRYNAI_REDIS_PREFIX": "tls"}  # the CA, as mkcert users set it
        with running_replicas(2, redis.url(), env=env) as replicas:
            for replica in replicas:
                assert (await http.get(f"{replica.url}/healthz")).json() == {"status": "ok", "redis": True}
            session = RawSession(http, [replicas[0].mcp_url, replicas[1].mcp_url])
            await session.open()
            for request_id in (1, 2):
                bumped = await http.post(
                    session.url(), json=session.call(request_id, "bump_counter", {}), headers=session.headers()
                )
                assert bumped.status_code == 200 and f'"text":"{request_id}"' in bumped.text, bumped.text
            connected = [r for r in replicas[0].log_records() if r.get("event") == "redis_connected"]
            assert connected and connected[0]["redis_tls"] is True and connected[0]["redis_auth"] == "password"
        assert redis.client().get("tls:counter:counter") == "2"  # what an operator finds in Redis
