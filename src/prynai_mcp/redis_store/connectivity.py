"""Redis connectivity in the log: what an operator reads in a replica's start-up logs and when Redis comes and goes.

At start-up one line says where Redis is (host, port, db, TLS, how the replica authenticates) and whether it
answered; after that, one line at each change: lost, and restored with how long it was down. A ping every
`interval` seconds decides; requests never wait on it. Never logs the password or a token.
Entry: `watch_connectivity(store, interval)`, a task run for the replica's life.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.abc

from prynai_mcp.redis_store.client import RedisStore

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 1.0


def describe(url: str, auth: str | None = None) -> dict[str, Any]:
    """Where the store is and how this replica authenticates to it, without secrets."""
    parts = urlsplit(url)
    if auth is None:
        auth = "password" if parts.password else "none"
    database = parts.path.lstrip("/") or "0"
    return {
        "redis_host": parts.hostname or "",
        "redis_port": parts.port or 6379,
        "redis_db": int(database) if database.isdigit() else database,
        "redis_tls": parts.scheme == "rediss",
        "redis_auth": auth,
    }


async def watch_connectivity(
    store: RedisStore,
    interval: float = DEFAULT_INTERVAL_SECONDS,
    *,
    auth: str | None = None,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    where = describe(store.url, auth)
    up = await store.ping()
    if up:
        logger.info("redis connected", extra={"event": "redis_connected", **where})
    else:
        logger.warning("redis unreachable; retrying", extra={"event": "redis_unreachable", **where})
    ever_up, changed_at = up, time.monotonic()
    task_status.started()
    while True:
        await anyio.sleep(interval)
        now_up = await store.ping()
        if now_up == up:
            continue
        up, down_seconds, changed_at = now_up, round(time.monotonic() - changed_at, 1), time.monotonic()
        if not up:
            logger.warning("redis connection lost", extra={"event": "redis_lost", **where})
        elif not ever_up:
            ever_up = True
            logger.info("redis connected", extra={"event": "redis_connected", "down_seconds": down_seconds, **where})
        else:
            logger.info(
                "redis connection restored", extra={"event": "redis_restored", "down_seconds": down_seconds, **where}
            )
