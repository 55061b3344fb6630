"""The same server on each backend, for tests that must hold on both: the embedded one (one process) and Redis with
two replicas (a test's `RawSession` alternates between them, so every bound is checked across the fleet)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from tests.support.redis import running_redis
from tests.support.replicas import running_replicas
from tests.support.server import running_server

BACKENDS = ["memory", "redis"]


@contextlib.contextmanager
def serving_on(backend: str, env: Mapping[str, str]) -> Iterator[list[str]]:
    """The `/mcp` URLs of the server with `env` on `backend` ("memory" or "redis")."""
    if backend == "memory":
        with running_server(env) as server:
            yield [server.mcp_url]
    else:
        with running_redis() as redis, running_replicas(2, redis.url(), env) as replicas:
            yield [replica.mcp_url for replica in replicas]
