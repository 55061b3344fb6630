"""The session stores on Redis: registry, event log and replica inbox shared by every replica.

Same contracts as the in-memory stores (see `registry`, `events`, `inbox`); keys come from `Keys`. Every call that
finds Redis down raises `StoreUnavailable` within the client's timeouts; the HTTP layer answers it with 503.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.abc

from prynai_mcp.redis_store import keys as scripts
from prynai_mcp.redis_store.client import UNAVAILABLE_ERRORS, RedisStore
from prynai_mcp.redis_store.keys import Keys
from prynai_mcp.sessions.events import Event, Message, event_id
from prynai_mcp.sessions.inbox import Deliver
from prynai_mcp.sessions.registry import SessionRecord
from prynai_mcp.sessions.wakeups import RedisWakeups, Wakeups, Watch

logger = logging.getLogger(__name__)

_INBOX_POLL_SECONDS = 1.0


class RedisSessionRegistry:
    def __init__(self, store: RedisStore, keys: Keys, idle_seconds: float) -> None:
        self._store = store
        self._keys = keys
        self._idle_ms = int(idle_seconds * 1000)

    async def create(self, record: SessionRecord) -> None:
        async with self._store.available():
            await self._store.client.set(self._keys.session(record.session_id), record.to_json(), px=self._idle_ms)

    async def get(self, session_id: str) -> SessionRecord | None:
        async with self._store.available():
            raw = await self._store.client.getex(self._keys.session(session_id), px=self._idle_ms)
        return None if raw is None else SessionRecord.from_json(raw)

    async def get_many(self, session_ids: Sequence[str]) -> dict[str, SessionRecord]:
        async with self._store.available():
            pipe = self._store.client.pipeline(transaction=False)  # one round trip for all of them
            for session_id in session_ids:
                pipe.getex(self._keys.session(session_id), px=self._idle_ms)
            raws: list[str | None] = await pipe.execute()
        found = zip(session_ids, raws, strict=True)
        return {session_id: SessionRecord.from_json(raw) for session_id, raw in found if raw is not None}

    async def delete(self, session_id: str) -> bool:
        async with self._store.available():
            return bool(await self._store.client.delete(self._keys.session(session_id)))


class RedisEventLog:
    """The shared event log. A waiting reader holds no connection: it borrows one to read, then waits for the
    replica's one wake-up listener (`run`, a lifespan task) to tell it its stream grew."""

    def __init__(
        self,
        store: RedisStore,
        keys: Keys,
        *,
        max_events: int,
        retention_seconds: float,
        max_stream_bytes: int = 1024 * 1024,
        max_session_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self._store = store
        self._keys = keys
        self._max_events = max_events
        self._retention_ms = int(retention_seconds * 1000)
        self._max_session_bytes = max_session_bytes
        self._max_stream_bytes = min(max_stream_bytes, max_session_bytes)
        self._append = store.script(scripts.APPEND_EVENT)
        self.wakeups = Wakeups()
        self._listener = RedisWakeups(store, keys, self.wakeups)

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Wake this replica's waiting readers as their streams grow, until cancelled."""
        await self._listener.run(task_status=task_status)

    def append_call(
        self, session_id: str, stream: str, wire: str, *, owed: str | None = None
    ) -> tuple[list[str], list[str | int]]:
        """The keys and arguments of `APPEND_EVENT` for one event (`owed`: a change's owed set, for the journal)."""
        keys = [self._keys.session_stream(session_id, stream), self._keys.session_stream_sizes(session_id)]
        if owed is not None:
            keys.append(owed)
        args: list[str | int] = [
            wire,
            self._max_events,
            stream,
            self._retention_ms,
            session_id,
            self._max_stream_bytes,
            self._max_session_bytes,
            self._keys.session_stream(session_id, ""),
            self._keys.streams_appended(),
        ]
        return keys, args

    async def append(self, session_id: str, stream: str, message: Message | None) -> str:
        wire = "" if message is None else json.dumps(message, separators=(",", ":"))
        keys, args = self.append_call(session_id, stream, wire)
        async with self._store.available():
            entry = await self._append(keys=keys, args=args)
        return event_id(str(entry), stream)

    async def read(self, session_id: str, stream: str, after: str | None) -> list[Event]:
        key = self._keys.session_stream(session_id, stream)
        # redis-py types stream replies loosely; with decode_responses they are lists of (entry id, {field: value}).
        client: Any = self._store.client
        start = "-" if after is None else f"({after}"
        async with self._store.available():
            found: list[tuple[str, dict[str, str]]] = await client.xrange(key, min=start, max="+")
        return [(event_id(entry, stream), _decode(fields)) for entry, fields in found]

    def watch(self, session_id: str, stream: str) -> contextlib.AbstractContextManager[Watch]:
        return self.wakeups.watching(session_id, stream)

    async def last_entry(self, session_id: str, stream: str) -> str | None:
        async with self._store.available():
            newest = await self._store.client.xrevrange(self._keys.session_stream(session_id, stream), count=1)
        return str(newest[0][0]) if newest else None

    async def has_stream(self, session_id: str, stream: str) -> bool:
        async with self._store.available():
            return bool(await self._store.client.exists(self._keys.session_stream(session_id, stream)))

    async def delete_session(self, session_id: str) -> None:
        sizes = self._keys.session_stream_sizes(session_id)
        async with self._store.available():
            members = await self._store.client.zrange(sizes, 0, -1)
            streams = [self._keys.session_stream(session_id, str(m)[1:]) for m in members if str(m).startswith("s")]
            await self._store.client.delete(sizes, *streams)
        self.wakeups.wake_session(session_id)


class RedisInbox:
    def __init__(self, store: RedisStore, keys: Keys, replica_id: str) -> None:
        self._store = store
        self._keys = keys
        self._replica_id = replica_id

    async def forward(self, replica_id: str, session_id: str, body: bytes) -> None:
        payload = json.dumps({"session": session_id, "body": body.decode()})
        async with self._store.available():
            receivers = await self._store.client.publish(self._keys.replica_inbox(replica_id), payload)
        if not receivers:
            logger.warning("replica %s is gone; its request in session %s gets no answer", replica_id, session_id)

    async def run(
        self, deliver: Deliver, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        started = False
        while True:
            pubsub = self._store.pubsub()
            try:
                await pubsub.subscribe(self._keys.replica_inbox(self._replica_id))
                if not started:
                    started = True
                    task_status.started()
                while True:
                    message = await pubsub.get_message(timeout=_INBOX_POLL_SECONDS)
                    if message is not None:
                        await self._deliver(deliver, message)
            except UNAVAILABLE_ERRORS as error:
                logger.warning("replica inbox lost Redis (%s); reconnecting", error)
                if not started:
                    # Start the app even while Redis is down; answers arrive once it is back.
                    started = True
                    task_status.started()
                await anyio.sleep(1)
            finally:
                with anyio.CancelScope(shield=True):
                    try:
                        await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                    except UNAVAILABLE_ERRORS:
                        pass

    async def _deliver(self, deliver: Deliver, message: dict[str, Any]) -> None:
        try:
            payload = json.loads(message["data"])
            await deliver(payload["session"], payload["body"].encode())
        except Exception:  # one bad message must not stop the inbox
            logger.exception("could not deliver a forwarded answer")


def _decode(fields: dict[str, str]) -> Message | None:
    wire = fields.get("m", "")
    return json.loads(wire) if wire else None
