"""The embedded backend: all shared state in this process's memory, lost when it exits.

Each method completes without awaiting anything, so on one event loop it is atomic with no locks.
"""

from __future__ import annotations

from collections import defaultdict


class MemoryBackend:
    """In-process `StateBackend` for a single replica with zero set-up."""

    name = "memory"

    def __init__(self) -> None:
        self._counters: dict[str, int] = defaultdict(int)
        self._log_levels: dict[str, str] = {}
        self._subscribers: dict[str, set[str]] = defaultdict(set)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def healthy(self) -> bool | None:
        return None

    async def counter_get(self, name: str) -> int:
        return self._counters.get(name, 0)

    async def counter_add(self, name: str, by: int) -> int:
        self._counters[name] += by
        return self._counters[name]

    async def set_log_level(self, session_id: str, level: str) -> None:
        self._log_levels[session_id] = level

    async def get_log_level(self, session_id: str) -> str | None:
        return self._log_levels.get(session_id)

    async def subscribe(self, session_id: str, uri: str) -> None:
        self._subscribers[uri].add(session_id)

    async def unsubscribe(self, session_id: str, uri: str) -> None:
        sessions = self._subscribers.get(uri)
        if sessions is not None:
            sessions.discard(session_id)
            if not sessions:
                del self._subscribers[uri]

    async def subscribers(self, uri: str) -> set[str]:
        return set(self._subscribers.get(uri, ()))

    async def forget_session(self, session_id: str) -> None:
        self._log_levels.pop(session_id, None)
        for uri in [uri for uri, sessions in self._subscribers.items() if session_id in sessions]:
            await self.unsubscribe(session_id, uri)

    async def touch_session(self, session_id: str) -> None:
        return None  # nothing here expires on its own: it lives until `forget_session`
