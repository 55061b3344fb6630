"""Every message a session's SSE streams carry, in a log every replica can read: resumption without affinity.

Streams are the SDK's: a request's stream is named by the JSON-RPC request id, the session's standalone stream
is `_GET_stream`. Logs are scoped by session, so two sessions that reuse a request id never share a stream.
An event id is `{entry}.{stream}`: the entry orders events within the stream (digits, or Redis's `ms-seq`; never a
dot), the stream says which one a `Last-Event-ID` resumes.

Bounds, on either backend: a stream keeps its newest `max_events` and at most `max_stream_bytes` of messages (its
oldest go first, never the newest); a session keeps at most `max_session_bytes` across its streams (its largest other
streams go, whole); a stream lives `retention_seconds` after its last event. A reader waiting for events holds no
connection and makes no call while nothing comes: it `watch`es its stream and reads when woken
(`prynai_mcp.sessions.wakeups`).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import anyio.abc
from mcp.server.streamable_http import GET_STREAM_KEY

from prynai_mcp.sessions.wakeups import Wakeups, Watch

Message = dict[str, Any]
Event = tuple[str, Message | None]  # (event id, message; None for a priming event)

# An entry as either backend writes it: a counter, or a Redis stream id.
_ENTRY = re.compile(r"[0-9]{1,20}(?:-[0-9]{1,20})?")
# Stream names are request ids; an id longer than this is not one this server would have stored.
MAX_STREAM_NAME_CHARS = 1024


def event_id(entry: str, stream: str) -> str:
    return f"{entry}.{stream}"


def parse_event_id(value: str) -> tuple[str, str] | None:
    """(entry, stream) from an event id, or None when it is not one this server could have written."""
    entry, dot, stream = value.partition(".")
    if not dot or not _ENTRY.fullmatch(entry) or not stream or len(stream) > MAX_STREAM_NAME_CHARS:
        return None
    return entry, stream


def message_bytes(wire: str) -> int:
    """What a stored message counts against the byte bounds: its JSON text, as Redis's `#ARGV` measures it."""
    return len(wire.encode())


class EventLog(Protocol):
    async def append(self, session_id: str, stream: str, message: Message | None) -> str:
        """Add an event to the end of `stream`; return its event id."""

    async def read(self, session_id: str, stream: str, after: str | None) -> list[Event]:
        """Events of `stream` after entry `after` (None: from its start), oldest first."""

    def watch(self, session_id: str, stream: str) -> contextlib.AbstractContextManager[Watch]:
        """Registration, for as long as a reader keeps it, to be woken when `stream` may have grown (or the session
        ended): take it before the first read, then read whenever `Watch.wait` says so."""

    async def last_entry(self, session_id: str, stream: str) -> str | None:
        """The entry of the newest event, to read only what comes next; None for an empty stream."""

    async def delete_session(self, session_id: str) -> None:
        """Forget every stream of the session."""

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """What the log runs for the app's lifetime (a lifespan task) to wake waiting readers."""

    async def has_stream(self, session_id: str, stream: str) -> bool:
        """Whether the session's log holds `stream` (it had an event in the retention and was not evicted)."""


@dataclass
class _Stream:
    events: deque[tuple[int, Message | None, int]] = field(default_factory=deque)  # (entry, message, bytes)
    held: int = 0
    touched: float = field(default_factory=time.monotonic)


@dataclass
class _Session:
    streams: dict[str, _Stream] = field(default_factory=dict)
    held: int = 0


class MemoryEventLog:
    """One process's event log."""

    def __init__(
        self,
        *,
        max_events: int = 1000,
        retention_seconds: float = 3600,
        max_stream_bytes: int = 1024 * 1024,
        max_session_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self._max_events = max_events
        self._retention = retention_seconds
        self._max_session_bytes = max_session_bytes
        self._max_stream_bytes = min(max_stream_bytes, max_session_bytes)
        self._sessions: dict[str, _Session] = {}
        self._next_entry = 1
        self.wakeups = Wakeups()

    async def append(self, session_id: str, stream: str, message: Message | None) -> str:
        entry = self._next_entry
        self._next_entry += 1
        size = 0 if message is None else message_bytes(json.dumps(message, separators=(",", ":")))
        session = self._sessions.setdefault(session_id, _Session())
        log = session.streams.setdefault(stream, _Stream())
        log.events.append((entry, message, size))
        log.held += size
        session.held += size
        log.touched = time.monotonic()
        while len(log.events) > 1 and (len(log.events) > self._max_events or log.held > self._max_stream_bytes):
            freed = log.events.popleft()[2]
            log.held -= freed
            session.held -= freed
        while session.held > self._max_session_bytes:
            others = [name for name in session.streams if name != stream]
            if not others:
                break
            victim = max(others, key=lambda name: session.streams[name].held)
            session.held -= session.streams.pop(victim).held
        self.wakeups.wake(session_id, stream)
        return event_id(str(entry), stream)

    async def read(self, session_id: str, stream: str, after: str | None) -> list[Event]:
        return self._after(session_id, stream, after)

    def watch(self, session_id: str, stream: str) -> contextlib.AbstractContextManager[Watch]:
        return self.wakeups.watching(session_id, stream)

    async def last_entry(self, session_id: str, stream: str) -> str | None:
        log = self._stream(session_id, stream)
        return str(log.events[-1][0]) if log and log.events else None

    async def has_stream(self, session_id: str, stream: str) -> bool:
        return self._stream(session_id, stream) is not None

    async def delete_session(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)
        self.wakeups.wake_session(session_id)

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()  # appends wake their readers themselves: nothing to run

    def sweep(self) -> int:
        """Forget the streams without an event for the retention time, and sessions left without one; how many
        streams went. Run on a timer (`Services.sweep`): an abandoned session's log must not wait for a reader."""
        horizon = time.monotonic() - self._retention
        swept = 0
        for session_id in list(self._sessions):
            session = self._sessions[session_id]
            for name in [name for name, log in session.streams.items() if log.touched < horizon]:
                session.held -= session.streams.pop(name).held
                swept += 1
            if not session.streams:
                del self._sessions[session_id]
        return swept

    @property
    def held_bytes(self) -> int:
        return sum(session.held for session in self._sessions.values())

    def _stream(self, session_id: str, stream: str) -> _Stream | None:
        session = self._sessions.get(session_id)
        return None if session is None else session.streams.get(stream)

    def _after(self, session_id: str, stream: str, after: str | None) -> list[Event]:
        log = self._stream(session_id, stream)
        if log is None:
            return []
        floor = int(after.partition("-")[0]) if after is not None else 0
        return [(event_id(str(entry), stream), message) for entry, message, _ in log.events if entry > floor]


__all__ = [
    "GET_STREAM_KEY",
    "Event",
    "EventLog",
    "MemoryEventLog",
    "Message",
    "event_id",
    "message_bytes",
    "parse_event_id",
]
