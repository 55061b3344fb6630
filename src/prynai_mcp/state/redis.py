"""The networked backend: shared state in Redis, the same for every replica, kept across restarts.

Each method is one atomic Redis command, one transaction or one Lua script, so concurrent replicas never lose an
update (the counter is INCRBY). What a legacy session asked for (log level, subscriptions) expires with the session:
its keys carry the session idle timeout as TTL, renewed whenever they are used and by `touch_session`. Subscriptions
are indexed both ways (URI -> sessions, session -> URIs) so `forget_session` costs only the session's own
subscriptions. Key names and scripts come from `prynai_mcp.redis_store.keys`.

While Redis is unreachable every method but `healthy` raises `StoreUnavailable` within the client's timeouts.
"""

from __future__ import annotations

import math
import time
from typing import Any

from redis.exceptions import ResponseError

from prynai_mcp.redis_store import keys as scripts
from prynai_mcp.redis_store.client import RedisStore
from prynai_mcp.redis_store.keys import Keys

# Sessions whose last renewal this replica remembers before it prunes the ones too old to matter.
_MAX_TOUCHED = 10_000


class RedisBackend:
    """`StateBackend` over Redis. Owns `store`: `close` closes the pool the bus and the session layer share."""

    name = "redis"

    def __init__(self, store: RedisStore, keys: Keys, *, session_ttl_seconds: float) -> None:
        if session_ttl_seconds <= 0:
            raise ValueError("session_ttl_seconds must be positive")
        self.store = store
        self.keys = keys
        self._ttl_ms = max(1, round(session_ttl_seconds * 1000))
        self._subscribe = store.script(scripts.SUBSCRIBE)
        self._subscribers = store.script(scripts.SUBSCRIBERS)
        self._touch = store.script(scripts.TOUCH_SESSION)
        self._touch_every = session_ttl_seconds / 10
        self._touched: dict[str, float] = {}  # session id -> when this replica last renewed its keys

    async def start(self) -> None:
        # Connecting is lazy: the server must come up (and report "redis": false) while Redis is still down.
        return None

    async def close(self) -> None:
        await self.store.close()

    async def healthy(self) -> bool | None:
        return await self.store.ping()

    async def counter_get(self, name: str) -> int:
        async with self.store.available():
            value: Any = await self.store.client.get(self.keys.counter(name))
        return int(value) if value is not None else 0

    async def counter_add(self, name: str, by: int) -> int:
        try:
            async with self.store.available():
                value: Any = await self.store.client.incrby(self.keys.counter(name), by)
        except ResponseError as error:
            # Redis counters are signed 64-bit; say so instead of surfacing a protocol error.
            raise ValueError(f"counter {name!r} cannot change by {by}: {error}") from error
        return int(value)

    async def set_log_level(self, session_id: str, level: str) -> None:
        async with self.store.available():
            await self.store.client.set(self.keys.session_log_level(session_id), level, px=self._ttl_ms)

    async def get_log_level(self, session_id: str) -> str | None:
        async with self.store.available():
            # GETEX renews the TTL: a session that keeps logging keeps its level.
            value: Any = await self.store.client.getex(self.keys.session_log_level(session_id), px=self._ttl_ms)
        return str(value) if value is not None else None

    async def subscribe(self, session_id: str, uri: str, limit: int | None = None) -> bool:
        keys = [self.keys.session_subscriptions(session_id), self.keys.subscribers(uri)]
        async with self.store.available():
            taken: Any = await self._subscribe(keys=keys, args=[uri, session_id, self._ttl_ms, limit or 0])
        return bool(taken)

    async def unsubscribe(self, session_id: str, uri: str) -> None:
        async with self.store.available(), self.store.client.pipeline(transaction=True) as tx:
            tx.srem(self.keys.session_subscriptions(session_id), uri)
            tx.zrem(self.keys.subscribers(uri), session_id)
            await tx.execute()

    async def subscribers(self, uri: str) -> set[str]:
        async with self.store.available():
            members: Any = await self._subscribers(keys=[self.keys.subscribers(uri)])
        return {str(member) for member in members}

    async def forget_session(self, session_id: str) -> None:
        self._touched.pop(session_id, None)
        own = self.keys.session_subscriptions(session_id)
        async with self.store.available():
            uris: Any = await self.store.client.smembers(own)
            async with self.store.client.pipeline(transaction=True) as tx:
                for uri in uris:
                    tx.zrem(self.keys.subscribers(str(uri)), session_id)
                tx.delete(own, self.keys.session_log_level(session_id))
                await tx.execute()

    async def touch_session(self, session_id: str) -> None:
        # Two round trips, so at most once per tenth of the TTL per session and replica; the keys then live a tenth
        # longer than the TTL, so they never lapse before the session's own record, which every request renews.
        now = time.monotonic()
        if now - self._touched.get(session_id, -math.inf) < self._touch_every:
            return
        if len(self._touched) > _MAX_TOUCHED:
            horizon = now - self._touch_every
            self._touched = {sid: at for sid, at in self._touched.items() if at >= horizon}
        self._touched[session_id] = now
        own = self.keys.session_subscriptions(session_id)
        async with self.store.available():
            uris: Any = await self.store.client.smembers(own)
            keys = [self.keys.session_log_level(session_id), own, *(self.keys.subscribers(str(u)) for u in uris)]
            await self._touch(keys=keys, args=[session_id, self._ttl_ms + round(self._touch_every * 1000)])
