"""Bounded, leased slots: how many sessions a principal holds and how many GET streams a session holds open.

A slot is a member (a session id, a stream's token) under an owner (a principal, a session) with a lease: `acquire`
takes one unless the owner already holds `limit` live ones, `renew` extends a held one, `release` gives it back. A
slot whose holder vanished without releasing it (a replica killed mid-stream, a session that just went idle) frees
itself when its lease runs out, so a bound can never be used up for good by what is gone. With Redis every replica
counts the same slots (one atomic script per acquire); in memory, one process's.

Entry: `SessionSlots.build` gives both kinds for a deployment.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from prynai_mcp.redis_store import keys as scripts
from prynai_mcp.redis_store.client import RedisStore
from prynai_mcp.redis_store.keys import Keys

# Slots whose last renewal a replica remembers before it forgets the ones renewed too long ago to matter.
_MAX_RENEWED = 10_000


class Slots(Protocol):
    limit: int

    async def acquire(self, owner: str, member: str) -> bool:
        """Take a slot for `member` (or renew the one it holds); False when `owner` holds `limit` live slots."""

    async def renew(self, owner: str, member: str) -> None:
        """Extend the lease of a held slot; a slot no longer held is not taken again."""

    async def renew_many(self, held: Mapping[str, Collection[str]]) -> None:
        """`renew` every member of every owner given (one round trip), whenever it was last renewed."""

    async def release(self, owner: str, member: str) -> None:
        """Give the slot back; unknown slots are ignored."""


class MemorySlots:
    """One process's slots: leases in a dict, expired ones dropped whenever their owner is looked at."""

    def __init__(self, limit: int, lease_seconds: float) -> None:
        self.limit = limit
        self._lease = lease_seconds
        self._held: dict[str, dict[str, float]] = {}

    async def acquire(self, owner: str, member: str) -> bool:
        held = self._live(owner)
        if member not in held and len(held) >= self.limit:
            return False
        held[member] = time.monotonic() + self._lease
        self._held[owner] = held
        return True

    async def renew(self, owner: str, member: str) -> None:
        await self.renew_many({owner: (member,)})

    async def renew_many(self, held: Mapping[str, Collection[str]]) -> None:
        until = time.monotonic() + self._lease
        for owner, members in held.items():
            live = self._live(owner)
            for member in members:
                if member in live:
                    live[member] = until

    async def release(self, owner: str, member: str) -> None:
        held = self._held.get(owner)
        if held is not None:
            held.pop(member, None)
            if not held:
                del self._held[owner]

    def sweep(self) -> None:
        """Forget every expired slot (called on a timer, so owners never looked at again do not pile up)."""
        for owner in list(self._held):
            if not self._live(owner):
                del self._held[owner]

    def _live(self, owner: str) -> dict[str, float]:
        now = time.monotonic()
        held = {member: until for member, until in self._held.get(owner, {}).items() if until > now}
        if owner in self._held:
            self._held[owner] = held
        return held


class RedisSlots:
    """Slots in one Redis sorted set per owner (member -> lease end on Redis's clock), shared by every replica."""

    def __init__(self, store: RedisStore, key: Any, limit: int, lease_seconds: float) -> None:
        self.limit = limit
        self._store = store
        self._key = key  # owner -> key name (a `Keys` method)
        self._lease_ms = max(1, round(lease_seconds * 1000))
        self._acquire = store.script(scripts.ACQUIRE_SLOT)
        self._renew = store.script(scripts.RENEW_SLOT)
        # A renewal is a round trip: at most one per tenth of the lease per slot from this replica.
        self._renew_every = lease_seconds / 10
        self._renewed: dict[tuple[str, str], float] = {}

    async def acquire(self, owner: str, member: str) -> bool:
        async with self._store.available():
            taken: Any = await self._acquire(keys=[self._key(owner)], args=[member, self.limit, self._lease_ms])
        return bool(taken)

    async def renew(self, owner: str, member: str) -> None:
        now = time.monotonic()
        if now - self._renewed.get((owner, member), -math.inf) < self._renew_every:
            return
        if len(self._renewed) > _MAX_RENEWED:
            self._renewed = {slot: at for slot, at in self._renewed.items() if now - at < self._renew_every}
        self._renewed[(owner, member)] = now
        async with self._store.available():
            await self._renew(keys=[self._key(owner)], args=[self._lease_ms, member])

    async def renew_many(self, held: Mapping[str, Collection[str]]) -> None:
        if not held:
            return
        async with self._store.available():
            pipe = self._store.client.pipeline(transaction=False)
            for owner, members in held.items():
                await self._renew(keys=[self._key(owner)], args=[self._lease_ms, *members], client=pipe)
            await pipe.execute()

    async def release(self, owner: str, member: str) -> None:
        self._renewed.pop((owner, member), None)
        async with self._store.available():
            await self._store.client.zrem(self._key(owner), member)


@dataclass(frozen=True)
class SessionSlots:
    """The two bounds the session layer keeps: sessions per principal, open GET streams per session."""

    sessions: Slots  # owner: principal key; member: session id; lease: the session idle timeout
    streams: Slots  # owner: session id; member: one stream's token; lease: a few keep-alive periods

    @classmethod
    def build(
        cls,
        store: RedisStore | None,
        keys: Keys | None,
        *,
        sessions_per_principal: int,
        session_lease_seconds: float,
        streams_per_session: int,
        stream_lease_seconds: float,
    ) -> SessionSlots:
        if store is None or keys is None:
            return cls(
                MemorySlots(sessions_per_principal, session_lease_seconds),
                MemorySlots(streams_per_session, stream_lease_seconds),
            )
        return cls(
            RedisSlots(store, keys.principal_sessions, sessions_per_principal, session_lease_seconds),
            RedisSlots(store, keys.session_open_streams, streams_per_session, stream_lease_seconds),
        )

    def sweep(self) -> None:
        for slots in (self.sessions, self.streams):
            if isinstance(slots, MemorySlots):
                slots.sweep()
