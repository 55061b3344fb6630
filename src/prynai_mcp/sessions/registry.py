"""What a session is, kept where every replica can read it.

A `SessionRecord` is written once, when `initialize` succeeds, and read by any replica that receives a request for
the session. It expires after the configured idle time; every request (and every open GET stream) refreshes it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    protocol_version: str
    client_params: dict[str, Any]  # what a restore needs of the client's `initialize` params (`restorable_params`)
    owner: dict[str, Any] | None  # the principal that opened it (client_id, issuer, subject); None without auth
    created_at: float
    principal: str | None = None  # whose session count it is in (`identity.principal_key`); None in older records

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> SessionRecord:
        fields = json.loads(raw)
        return cls(**{name: fields[name] for name in _FIELDS if name in fields})


_FIELDS = tuple(SessionRecord.__dataclass_fields__)

# What a restore reads of `initialize`: the SDK's `InitializeRequestParams` needs these three, nothing else.
_RESTORED_PARAMS = ("protocolVersion", "capabilities", "clientInfo")


def restorable_params(params: dict[str, Any]) -> dict[str, Any]:
    """The part of a client's `initialize` params a session record keeps (its size is bounded by the manager)."""
    return {name: params[name] for name in _RESTORED_PARAMS if name in params}


class SessionRegistry(Protocol):
    async def create(self, record: SessionRecord) -> None:
        """Store a new session's record with a fresh idle TTL."""

    async def get(self, session_id: str) -> SessionRecord | None:
        """The live record, its idle TTL refreshed; None when it never existed, expired or was deleted."""

    async def get_many(self, session_ids: Sequence[str]) -> dict[str, SessionRecord]:
        """`get` for many sessions at once (one round trip): the live ones' records, by session id."""

    async def delete(self, session_id: str) -> bool:
        """End the session everywhere; True when it existed."""


class RegistryFull(Exception):
    """The in-memory registry holds as many sessions as it may (`PRYNAI_MAX_SESSIONS`)."""


class MemorySessionRegistry:
    """One process's registry: records in a dict, expiry checked on read and swept on a timer (`sweep`), at most
    `max_sessions` of them."""

    def __init__(self, idle_seconds: float, max_sessions: int | None = None) -> None:
        self._idle_seconds = idle_seconds
        self._max_sessions = max_sessions
        self._records: dict[str, tuple[SessionRecord, float]] = {}

    async def create(self, record: SessionRecord) -> None:
        if self._max_sessions is not None and len(self._records) >= self._max_sessions:
            self.sweep()
            if len(self._records) >= self._max_sessions:
                raise RegistryFull(f"{len(self._records)} sessions are open")
        self._records[record.session_id] = (record, time.monotonic() + self._idle_seconds)

    def has_room(self) -> bool:
        """Whether `create` would succeed now (checked before a new session's `initialize` is served)."""
        if self._max_sessions is None or len(self._records) < self._max_sessions:
            return True
        self.sweep()
        return len(self._records) < self._max_sessions

    def sweep(self) -> list[str]:
        """Drop every expired record; return their session ids (whose recorded choices go with them)."""
        now = time.monotonic()
        expired = [session_id for session_id, (_, expires) in self._records.items() if expires <= now]
        for session_id in expired:
            del self._records[session_id]
        return expired

    async def get(self, session_id: str) -> SessionRecord | None:
        entry = self._records.get(session_id)
        if entry is None:
            return None
        record, expires = entry
        now = time.monotonic()
        if now >= expires:
            del self._records[session_id]
            return None
        self._records[session_id] = (record, now + self._idle_seconds)
        return record

    async def get_many(self, session_ids: Sequence[str]) -> dict[str, SessionRecord]:
        found = {session_id: await self.get(session_id) for session_id in session_ids}
        return {session_id: record for session_id, record in found.items() if record is not None}

    async def delete(self, session_id: str) -> bool:
        return self._records.pop(session_id, None) is not None
