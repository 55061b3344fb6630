"""Which replica runs each request of a session, and whether that replica still lives.

A replica holds a lease (renewed by `heartbeat`, dropped by `retire` on graceful shutdown) and claims every request
whose response becomes a resumable SSE stream, before the client gets its first event id (`SessionStreams`); the
claim is released when the answer is stored. When a client resumes a request's stream on another replica
(`Last-Event-ID`), that replica asks `status`: a claim whose replica holds no lease means the request died with it,
and the client is told so instead of waiting forever; no claim at all means the request is over (its answer was
stored before the claim was released), so a stream resumed after its answer ends at once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import anyio
import anyio.abc

from prynai_mcp.redis_store.client import RedisStore
from prynai_mcp.redis_store.keys import Keys

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lost:
    """The request's replica died while it ran; `request_id` is its JSON-RPC id."""

    request_id: Any


RequestStatus = Literal["running", "finished"] | Lost


class Ownership(Protocol):
    async def heartbeat(self) -> None:
        """Renew this replica's lease."""

    async def retire(self) -> None:
        """Give up the lease now (graceful shutdown): other replicas treat this one's requests as ended."""

    async def claim(self, session_id: str, stream: str, request_id: Any) -> None:
        """Record that this replica runs `request_id` (whose stream is `stream`) of the session."""

    async def release(self, session_id: str, stream: str) -> None:
        """The request ended (answered, failed or cancelled)."""

    async def status(self, session_id: str, stream: str) -> RequestStatus:
        """Whether the request on `stream` still runs, is over, or was lost with its dead replica (the claim is then
        forgotten, so the loss is reported once)."""


class LocalOwnership:
    """One process: every request runs here, and this process is alive while it can be asked."""

    def __init__(self) -> None:
        self._running: set[tuple[str, str]] = set()

    async def heartbeat(self) -> None:
        return None

    async def retire(self) -> None:
        return None

    async def claim(self, session_id: str, stream: str, request_id: Any) -> None:
        self._running.add((session_id, stream))

    async def release(self, session_id: str, stream: str) -> None:
        self._running.discard((session_id, stream))

    async def status(self, session_id: str, stream: str) -> RequestStatus:
        return "running" if (session_id, stream) in self._running else "finished"


class RedisOwnership:
    def __init__(
        self, store: RedisStore, keys: Keys, replica_id: str, *, lease_seconds: float, retention_seconds: float
    ):
        self._store = store
        self._keys = keys
        self._replica_id = replica_id
        self._lease_ms = int(lease_seconds * 1000)
        self._retention_ms = int(retention_seconds * 1000)

    async def heartbeat(self) -> None:
        async with self._store.available():
            await self._store.client.set(self._keys.replica_alive(self._replica_id), "1", px=self._lease_ms)

    async def retire(self) -> None:
        async with self._store.available():
            await self._store.client.delete(self._keys.replica_alive(self._replica_id))

    async def claim(self, session_id: str, stream: str, request_id: Any) -> None:
        key = self._keys.session_inflight(session_id)
        claim = json.dumps({"replica": self._replica_id, "id": request_id})
        async with self._store.available():
            pipe = self._store.client.pipeline(transaction=False)
            pipe.hset(key, stream, claim)
            pipe.pexpire(key, self._retention_ms)
            await pipe.execute()

    async def release(self, session_id: str, stream: str) -> None:
        async with self._store.available():
            await self._store.client.hdel(self._keys.session_inflight(session_id), stream)

    async def status(self, session_id: str, stream: str) -> RequestStatus:
        key = self._keys.session_inflight(session_id)
        async with self._store.available():
            raw = await self._store.client.hget(key, stream)
            if raw is None:
                return "finished"
            claim = json.loads(raw)
            if await self._store.client.exists(self._keys.replica_alive(claim["replica"])):
                return "running"
            # HDEL answers 1 to exactly one caller, so two replicas resuming the same stream report it once; the
            # other sees a request that is over (its loss is in the log by then).
            if not await self._store.client.hdel(key, stream):
                return "finished"
        logger.warning("request %s of session %s was lost with replica %s", claim["id"], session_id, claim["replica"])
        return Lost(claim["id"])


async def keep_lease(
    ownership: Ownership, lease_seconds: float, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    """Renew the lease at a third of its length until cancelled; a missed renewal (store down) is retried."""
    task_status.started()
    while True:
        try:
            await ownership.heartbeat()
        except Exception as error:  # the store is down: keep trying, the lease is only as good as the store
            logger.warning("could not renew the replica lease: %s", error)
        await anyio.sleep(lease_seconds / 3)
