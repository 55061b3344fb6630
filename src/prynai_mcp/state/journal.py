"""The change journal: a resource change is written down, with who is owed word of it, before it is made.

Without it, a replica killed between changing a resource and telling the last of its subscribers leaves the change
made and some subscribers never told: nothing else knew the change happened. With it, every change goes
`open` (journal the change and the sessions subscribed to its URI) -> make the change -> `tell` -> `close`, and a
change whose replica died anywhere in between is found by another replica (`abandoned`) and finished there.

Guarantees, across the death of any replica at any moment:
- every session subscribed to the URI when the change began gets `notifications/resources/updated` on its GET
  stream once, never twice (`tell` appends to each owed session's event log exactly once, whoever calls it);
- a change that was journalled is announced even if it was never made (the replica died before making it): the
  notification is a level trigger ("refetch if you care"), so a needless one costs a read and a missing one a bug.

The in-memory journal is the one-process case: when the process dies, so does every subscriber it could owe.
Entry: `MemoryChangeJournal` here, `prynai_mcp.state.redis_journal.RedisChangeJournal` for replicas.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

from prynai_mcp.sessions.events import GET_STREAM_KEY, EventLog, Message
from prynai_mcp.state import StateBackend


@dataclass(frozen=True)
class Change:
    """One journalled change of the resource `uri`."""

    change_id: str
    uri: str
    owed: frozenset[str] = field(default_factory=frozenset)  # sessions owed word of it, as far as the opener knew
    left_by: str | None = None  # the replica that journalled it and died, for a change taken over from it


def updated_notification(uri: str) -> Message:
    return {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": uri}}


class ChangeJournal(Protocol):
    async def open(self, uri: str) -> Change:
        """Journal a change of `uri` about to be made, with its subscribers as the sessions owed word of it."""

    async def tell(self, change: Change) -> int:
        """Append the change's notification to the GET stream of each owed session not told yet; return how many.

        One session's failure does not stop the others; raises only when the store is unreachable altogether.
        """

    async def close(self, change: Change) -> None:
        """Every owed session was told: forget the change."""

    async def abandoned(self, working: Collection[str]) -> list[Change]:
        """Changes left unfinished (their replica died, or this one could not close them), now this replica's.

        `working`: the ids of changes this replica is announcing right now, which are not abandoned.
        """


class MemoryChangeJournal:
    """One process's journal: nothing outlives the process, so nothing is ever abandoned."""

    def __init__(self, backend: StateBackend, events: EventLog) -> None:
        self._backend = backend
        self._events = events

    async def open(self, uri: str) -> Change:
        owed = await self._backend.subscribers(uri)
        return Change(change_id=secrets.token_hex(8), uri=uri, owed=frozenset(owed))

    async def tell(self, change: Change) -> int:
        notification = updated_notification(change.uri)
        for session_id in sorted(change.owed):
            await self._events.append(session_id, GET_STREAM_KEY, notification)
        return len(change.owed)

    async def close(self, change: Change) -> None:
        return None

    async def abandoned(self, working: Collection[str]) -> list[Change]:
        return []
