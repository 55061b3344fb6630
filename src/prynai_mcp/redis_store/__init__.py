"""Redis plumbing shared by the state backend, the change bus, request-state keys and the session layer.

`keys` names every key and holds every Lua script; `client` is the fail-fast, self-healing connection pool.
Nothing above the state/session layer imports this package.
"""

from __future__ import annotations

from prynai_mcp.redis_store.client import STORE_UNAVAILABLE, RedisStore, StoreUnavailable
from prynai_mcp.redis_store.keys import Keys

__all__ = ["STORE_UNAVAILABLE", "Keys", "RedisStore", "StoreUnavailable"]
