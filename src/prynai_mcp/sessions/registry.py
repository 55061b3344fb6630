"""What a session is, kept where every replica can read it.

A `SessionRecord` is written once, when `initialize` succeeds, and read by any replica that receives a request for
the session. It expires after the configured idle time; every request (and every open GET stream) refreshes it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    protocol_version: str
    client_params: dict[str, Any]  # the client's `initialize` params, as sent
    owner: dict[str, Any] | None  # the principal that opened it (client_id, issuer, subject); None without auth
    created_at: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> SessionRecord:
        return cls(**json.loads(raw))


class SessionRegistry(Protocol):
    async def create(self, record: SessionRecord) -> None:
        """Store a new session's record with a fresh idle TTL."""

    async def get(self, session_id: str) -> SessionRecord | None:
        """The live record, its idle TTL refreshed; None when it never existed, expired or was deleted."""

    async def delete(self, session_id: str) -> bool:
        """End the session everywhere; True when it existed."""


class MemorySessionRegistry:
    """One process's registry: records in a dict, expiry checked on read."""

    def __init__(self, idle_seconds: float) -> None:
        self._idle_seconds = idle_seconds
        self._records: dict[str, tuple[SessionRecord, float]] = {}

    async def create(self, record: SessionRecord) -> None:
        self._records[record.session_id] = (record, time.monotonic() + self._idle_seconds)

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

    async def delete(self, session_id: str) -> bool:
        return self._records.pop(session_id, None) is not None
