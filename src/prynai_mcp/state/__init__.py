"""Shared state behind one small async interface: the counter, and what a legacy session asked for.

The MCP surface talks only to `StateBackend`; it never knows which implementation it has. Every method is async and
atomic on its own, and no method assumes the caller is the only process: the in-memory backend is the one-process
case of the same contract that a networked backend keeps across replicas.
"""

from __future__ import annotations

from typing import Protocol

from prynai_mcp.state.memory import MemoryBackend


class StateBackend(Protocol):
    """What the server shares between requests, sessions and (with a networked backend) replicas."""

    name: str

    async def start(self) -> None:
        """Prepare the backend; must not fail when a remote store is not reachable yet."""

    async def close(self) -> None:
        """Release connections and tasks."""

    async def healthy(self) -> bool | None:
        """True or False for a remote store's reachability; None when there is nothing remote to reach."""

    async def counter_get(self, name: str) -> int:
        """The counter's value; 0 when it was never bumped."""

    async def counter_add(self, name: str, by: int) -> int:
        """Add `by` atomically and return the new value."""

    async def set_log_level(self, session_id: str, level: str) -> None:
        """Remember the `logging/setLevel` choice of a legacy session."""

    async def get_log_level(self, session_id: str) -> str | None:
        """The session's chosen level, or None when it never chose one."""

    async def subscribe(self, session_id: str, uri: str) -> None:
        """Record that the session wants `notifications/resources/updated` for `uri`."""

    async def unsubscribe(self, session_id: str, uri: str) -> None:
        """Forget one subscription; unknown ones are ignored."""

    async def subscribers(self, uri: str) -> set[str]:
        """Session ids subscribed to `uri`."""

    async def forget_session(self, session_id: str) -> None:
        """Drop everything recorded for an ended session."""


def create_backend(redis_url: str, prefix: str) -> StateBackend:
    """The backend the configuration asks for: in-memory when no Redis URL is set."""
    if redis_url:
        raise ValueError(
            "REDIS_URL is set, but this build ships only the embedded in-memory backend; unset REDIS_URL to run"
        )
    return MemoryBackend()


__all__ = ["MemoryBackend", "StateBackend", "create_backend"]
