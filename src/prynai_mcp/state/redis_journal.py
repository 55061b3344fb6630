"""The change journal on Redis, shared by every replica (contract: `prynai_mcp.state.journal`).

A change is a field of one HASH (`Keys.changes_pending`) naming its URI and the replica announcing it, and a SET of
the sessions still owed word of it (`Keys.change_owed`), both written by one script before the change is made.
Telling a session removes it from the SET and appends to its GET stream in one script (`APPEND_EVENT`, the event
log's own, given the SET), so two replicas finishing the same change never tell anyone twice. A replica whose
lease (`Keys.replica_alive`) has lapsed is dead: the first replica to claim one of its changes (`CLAIM_CHANGE`,
compare-and-set) finishes it.

While Redis is unreachable every method raises `StoreUnavailable`; a change that could not be closed stays in the
journal and is finished by this replica once Redis is back (`abandoned` returns it).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Collection
from typing import Any

from prynai_mcp.redis_store import keys as scripts
from prynai_mcp.redis_store.client import RedisStore
from prynai_mcp.redis_store.keys import Keys
from prynai_mcp.sessions.events import GET_STREAM_KEY
from prynai_mcp.sessions.redis_stores import RedisEventLog
from prynai_mcp.state.journal import Change, updated_notification

logger = logging.getLogger(__name__)


class RedisChangeJournal:
    def __init__(
        self, store: RedisStore, keys: Keys, replica_id: str, *, events: RedisEventLog, retention_seconds: float
    ) -> None:
        self._store = store
        self._keys = keys
        self._replica_id = replica_id
        self._events = events  # whose bounds and wake-ups every notification appended keeps
        self._retention_ms = max(1, round(retention_seconds * 1000))
        self._open = store.script(scripts.OPEN_CHANGE)
        self._append = store.script(scripts.APPEND_EVENT)
        self._claim = store.script(scripts.CLAIM_CHANGE)
        # This replica's own changes seen unfinished, and not being announced, by the previous `abandoned`.
        self._stalled: set[str] = set()

    async def open(self, uri: str) -> Change:
        change_id = secrets.token_hex(8)
        keys = [self._keys.changes_pending(), self._keys.change_owed(change_id), self._keys.subscribers(uri)]
        async with self._store.available():
            owed: Any = await self._open(keys=keys, args=[change_id, self._entry(uri), self._retention_ms])
        return Change(change_id=change_id, uri=uri, owed=frozenset(str(sid) for sid in owed))

    async def tell(self, change: Change) -> int:
        owed_key = self._keys.change_owed(change.change_id)
        notification = json.dumps(updated_notification(change.uri), separators=(",", ":"))
        async with self._store.available():
            # A change taken over knows only what is still owed; the opener already has the set.
            owed: Any = change.owed if change.left_by is None else await self._store.client.smembers(owed_key)
            if not owed:
                return 0
            sessions = sorted(owed)
            # One round trip for every session: each script is atomic on its own, and one's failure is its own.
            pipe = self._store.client.pipeline(transaction=False)
            for session_id in sessions:
                keys, args = self._events.append_call(session_id, GET_STREAM_KEY, notification, owed=owed_key)
                await self._append(keys=keys, args=args, client=pipe)  # queued: the pipeline runs it
            results = await pipe.execute(raise_on_error=False)
        told = 0
        for session_id, result in zip(sessions, results, strict=True):
            if isinstance(result, Exception):
                logger.warning("could not notify session %s of %s: %s", session_id, change.uri, result)
            elif result:
                told += 1
        return told

    async def close(self, change: Change) -> None:
        async with self._store.available(), self._store.client.pipeline(transaction=True) as tx:
            tx.hdel(self._keys.changes_pending(), change.change_id)
            tx.delete(self._keys.change_owed(change.change_id))
            await tx.execute()

    async def abandoned(self, working: Collection[str]) -> list[Change]:
        pending_key = self._keys.changes_pending()
        async with self._store.available():
            pending: Any = await self._store.client.hgetall(pending_key)
            if not pending:
                self._stalled = set()
                return []
            entries = {str(cid): str(raw) for cid, raw in pending.items() if str(cid) not in working}
            decoded: dict[str, dict[str, str]] = {}
            for change_id, raw in entries.items():
                entry = _decode(raw)
                if entry is None:
                    logger.warning("dropping a change journal entry this replica cannot read: %.200s", raw)
                    await self._store.client.hdel(pending_key, change_id)
                else:
                    decoded[change_id] = entry
            others = sorted({entry["replica"] for entry in decoded.values() if entry["replica"] != self._replica_id})
            pipe = self._store.client.pipeline(transaction=False)
            for replica in others:
                pipe.exists(self._keys.replica_alive(replica))
            alive = {replica for replica, exists in zip(others, await pipe.execute(), strict=True) if exists}
            # An own change looks unfinished for a moment around its opening and closing (the reply of HGETALL can
            # be read before or after the announcing task's own); only one seen twice in a row is really left over.
            own = {cid for cid, entry in decoded.items() if entry["replica"] == self._replica_id}
            stalled, self._stalled = self._stalled & own, own
            taken: list[Change] = []
            for change_id, entry in decoded.items():
                replica = entry["replica"]
                if replica in alive or (replica == self._replica_id and change_id not in stalled):
                    continue
                if replica != self._replica_id:
                    claimed = await self._claim(
                        keys=[pending_key], args=[change_id, entries[change_id], self._entry(entry["uri"])]
                    )
                    if not claimed:
                        continue  # another replica was quicker
                taken.append(Change(change_id=change_id, uri=entry["uri"], left_by=replica))
        return taken

    def _entry(self, uri: str) -> str:
        return json.dumps({"uri": uri, "replica": self._replica_id}, separators=(",", ":"))


def _decode(raw: str) -> dict[str, str] | None:
    try:
        entry = json.loads(raw)
        return {"uri": str(entry["uri"]), "replica": str(entry["replica"])}
    except (ValueError, KeyError, TypeError):
        return None
