"""Every message a session's SSE streams carry, in a log every replica can read: resumption without affinity.

Streams are the SDK's: a request's stream is named by the JSON-RPC request id, the session's standalone stream
is `_GET_stream`. Logs are scoped by session, so two sessions that reuse a request id never share a stream.
An event id is `{entry}.{stream}`: the entry orders events within the stream (entries never contain a dot), the
stream says which one a `Last-Event-ID` resumes. Each stream keeps its newest `max_events` and lives
`retention_seconds` after its last event.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
from mcp.server.streamable_http import GET_STREAM_KEY

Message = dict[str, Any]
Event = tuple[str, Message | None]  # (event id, message; None for a priming event)


def event_id(entry: str, stream: str) -> str:
    return f"{entry}.{stream}"


def parse_event_id(value: str) -> tuple[str, str] | None:
    """(entry, stream) from an event id, or None when it is not one of ours."""
    entry, dot, stream = value.partition(".")
    if not dot or not entry or not stream:
        return None
    return entry, stream


class EventLog(Protocol):
    async def append(self, session_id: str, stream: str, message: Message | None) -> str:
        """Add an event to the end of `stream`; return its event id."""

    async def read(self, session_id: str, stream: str, after: str | None, block_seconds: float = 0) -> list[Event]:
        """Events of `stream` after entry `after` (None: from its start), oldest first.

        With `block_seconds`, waits up to that long for the first event when there is none yet.
        """

    async def last_entry(self, session_id: str, stream: str) -> str | None:
        """The entry of the newest event, to read only what comes next; None for an empty stream."""

    async def delete_session(self, session_id: str) -> None:
        """Forget every stream of the session."""

    async def has_stream(self, session_id: str, stream: str) -> bool:
        """Whether the session's log holds `stream` (TEMPORARY: replaced by the event-log branch)."""


@dataclass
class _Stream:
    events: list[tuple[int, Message | None]] = field(default_factory=list)
    touched: float = field(default_factory=time.monotonic)


class MemoryEventLog:
    """One process's event log."""

    def __init__(self, *, max_events: int = 1000, retention_seconds: float = 3600) -> None:
        self._max_events = max_events
        self._retention = retention_seconds
        self._streams: dict[str, dict[str, _Stream]] = defaultdict(dict)
        self._next_entry = 1
        self._appended = anyio.Event()

    async def append(self, session_id: str, stream: str, message: Message | None) -> str:
        entry = self._next_entry
        self._next_entry += 1
        log = self._streams[session_id].setdefault(stream, _Stream())
        log.events.append((entry, message))
        del log.events[: -self._max_events]
        log.touched = time.monotonic()
        if entry % 256 == 0:
            self._expire()
        self._appended.set()
        self._appended = anyio.Event()
        return event_id(str(entry), stream)

    async def read(self, session_id: str, stream: str, after: str | None, block_seconds: float = 0) -> list[Event]:
        found = self._after(session_id, stream, after)
        if found or block_seconds <= 0:
            return found
        with anyio.move_on_after(block_seconds):
            while not found:
                await self._appended.wait()
                found = self._after(session_id, stream, after)
        return found

    async def last_entry(self, session_id: str, stream: str) -> str | None:
        log = self._streams.get(session_id, {}).get(stream)
        return str(log.events[-1][0]) if log and log.events else None

    async def has_stream(self, session_id: str, stream: str) -> bool:
        return stream in self._streams.get(session_id, {})

    async def delete_session(self, session_id: str) -> None:
        self._streams.pop(session_id, None)
        self._appended.set()
        self._appended = anyio.Event()

    def _after(self, session_id: str, stream: str, after: str | None) -> list[Event]:
        log = self._streams.get(session_id, {}).get(stream)
        if log is None:
            return []
        floor = int(after) if after is not None and after.isdigit() else 0
        return [(event_id(str(entry), stream), message) for entry, message in log.events if entry > floor]

    def _expire(self) -> None:
        horizon = time.monotonic() - self._retention
        for session_id in list(self._streams):
            streams = self._streams[session_id]
            for name in [name for name, log in streams.items() if log.touched < horizon]:
                del streams[name]
            if not streams:
                del self._streams[session_id]


__all__ = [
    "GET_STREAM_KEY",
    "Event",
    "EventLog",
    "MemoryEventLog",
    "Message",
    "event_id",
    "parse_event_id",
]
