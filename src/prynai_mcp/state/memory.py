"""The embedded backend: all shared state in this process's memory, lost when it exits.

Each method completes without awaiting anything, so on one event loop it is atomic with no locks. Counters are
signed 64-bit, as Redis's are, so a deployment behaves the same on either backend.
"""

from __future__ import annotations

from collections import defaultdict

_INT64 = range(-(2**63), 2**63)


class MemoryBackend:
    """In-process `StateBackend` for a single replica with zero set-up."""

    name = "memory"

    def __init__(self) -> None:
        self._counters: dict[str, int] = defaultdict(int)
        self._log_levels: dict[str, str] = {}
        self._subscribers: dict[str, set[str]] = defaultdict(set)
        self._subscriptions: dict[str, set[str]] = {}  # session id -> its URIs: forgetting a session costs its own

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def healthy(self) -> bool | None:
        return None

    async def counter_get(self, name: str) -> int:
        return self._counters.get(name, 0)

    async def counter_add(self, name: str, by: int) -> int:
        value = self._counters.get(name, 0) + by
        if value not in _INT64 or by not in _INT64:
            raise ValueError(f"counter {name!r} cannot change by {by}: increment or decrement would overflow")
        self._counters[name] = value
        return value

    async def set_log_level(self, session_id: str, level: str) -> None:
        self._log_levels[session_id] = level

    async def get_log_level(self, session_id: str) -> str | None:
        return self._log_levels.get(session_id)

    async def subscribe(self, session_id: str, uri: str, limit: int | None = None) -> bool:
        own = self._subscriptions.setdefault(session_id, set())
        if uri not in own and limit is not None and len(own) >= limit:
            return False
        own.add(uri)
        self._subscribers[uri].add(session_id)
        return True

    async def unsubscribe(self, session_id: str, uri: str) -> None:
        own = self._subscriptions.get(session_id)
        if own is not None:
            own.discard(uri)
            if not own:
                del self._subscriptions[session_id]
        sessions = self._subscribers.get(uri)
        if sessions is not None:
            sessions.discard(session_id)
            if not sessions:
                del self._subscribers[uri]

    async def subscribers(self, uri: str) -> set[str]:
        return set(self._subscribers.get(uri, ()))

    async def forget_session(self, session_id: str) -> None:
        self._log_levels.pop(session_id, None)
        for uri in list(self._subscriptions.get(session_id, ())):
            await self.unsubscribe(session_id, uri)

    async def touch_session(self, session_id: str) -> None:
        return None  # nothing here expires on its own: the registry's sweep calls `forget_session` for expired sessions
