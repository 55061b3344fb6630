"""Shared state behind one small async interface: the counter, and what a legacy session asked for.

The MCP surface talks only to `StateBackend`; it never knows which implementation it has. Every method is async and
atomic on its own, and no method assumes the caller is the only process: the in-memory backend is the one-process
case of the same contract that a networked backend keeps across replicas. A networked backend raises
`prynai_mcp.redis_store.StoreUnavailable` (a JSON-RPC error) from any method but `healthy` while its store is
unreachable, fast, and works again by itself when the store returns.
"""

from __future__ import annotations

from typing import Protocol

from prynai_mcp.redis_store import Keys, RedisStore
from prynai_mcp.redis_store.client import DEFAULT_MAX_CONNECTIONS
from prynai_mcp.state.memory import MemoryBackend
from prynai_mcp.state.redis import RedisBackend


class StateBackend(Protocol):
    """What the server shares between requests, sessions and (with a networked backend) replicas."""

    name: str

    async def start(self) -> None:
        """Prepare the backend; must not fail when a remote store is not reachable yet."""

    async def close(self) -> None:
        """Release connections and tasks."""

    async def healthy(self) -> bool | None:
        """True or False for a remote store's reachability; None when there is nothing remote to reach.

        Never raises, and answers within about a second even when the store is silent.
        """

    async def counter_get(self, name: str) -> int:
        """The counter's value; 0 when it was never bumped."""

    async def counter_add(self, name: str, by: int) -> int:
        """Add `by` atomically and return the new value."""

    async def set_log_level(self, session_id: str, level: str) -> None:
        """Remember the `logging/setLevel` choice of a legacy session."""

    async def get_log_level(self, session_id: str) -> str | None:
        """The session's chosen level, or None when it never chose one."""

    async def subscribe(self, session_id: str, uri: str, limit: int | None = None) -> bool:
        """Record that the session wants `notifications/resources/updated` for `uri`; False (nothing recorded) when
        the session already holds `limit` subscriptions to other URIs."""

    async def unsubscribe(self, session_id: str, uri: str) -> None:
        """Forget one subscription; unknown ones are ignored."""

    async def subscribers(self, uri: str) -> set[str]:
        """Session ids subscribed to `uri`."""

    async def forget_session(self, session_id: str) -> None:
        """Drop everything recorded for an ended session."""

    async def touch_session(self, session_id: str) -> None:
        """The session was used: what it recorded must live as long as the session does (cheap to call often)."""


def create_backend(
    redis_url: str,
    prefix: str,
    *,
    session_ttl_seconds: float = 30 * 60,
    store: RedisStore | None = None,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> StateBackend:
    """The backend the configuration asks for: in-memory when no Redis URL is set, else Redis under `prefix`.

    `session_ttl_seconds` (the session idle timeout) is how long a legacy session's recorded choices outlive its
    last use in Redis; `store`, a client configured otherwise (Entra ID authentication); `max_connections`, the
    bound of the replica's Redis connection pool. Connects nothing: the Redis backend connects on first use.
    """
    if not redis_url:
        return MemoryBackend()
    return RedisBackend(
        store or RedisStore(redis_url, max_connections=max_connections),
        Keys(prefix),
        session_ttl_seconds=session_ttl_seconds,
    )


__all__ = ["MemoryBackend", "RedisBackend", "StateBackend", "create_backend"]
