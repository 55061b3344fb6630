"""One key ring for sealed MRTR `requestState`, agreed by every replica (DESIGN.md section 4, contract 7).

On the 2026-07-28 wire a tool that needs input returns `requestState` sealed by the replica that ran it, and the
client's retry may land on any other replica, which must open it. The SDK's default key is random per process, so
replicas must share one. Where the ring comes from, first match wins:
1. `PRYNAI_REQUEST_STATE_KEYS` (comma separated; the first seals, all open: rotate by prepending a new key, then
   dropping the old one after the request-state TTL);
2. with only `REDIS_URL` set: a random key generated once and stored in Redis with set-if-absent, so the first
   replica's key wins and every other replica adopts it; no second secret is needed to scale out;
3. neither: None, and `MCPServer` keeps its per-process key (right for one process only).

Entry: `request_state_security(settings, store)` answers once. `SharedRequestState` is the form the app uses, since
`MCPServer` takes its policy at construction but Redis is only reachable later (maybe not at start-up at all): a
codec whose ring is loaded in the lifespan before serving, retried in the background while Redis is down, and
re-checked periodically so that if Redis loses the key (no persistence, flushed) every replica converges on one again.
Until a ring is loaded, sealing fails and opening answers "Invalid or expired requestState". The SDK turns any
sealing failure into an opaque internal error; `SharedRequestState.explain_seal_failures` (server middleware placed
outside the SDK's request-state boundary) gives the client the store-unavailable error (-32053) instead.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

import anyio
import anyio.abc
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.request_state import AESGCMRequestStateCodec, InvalidRequestState, RequestStateSecurity
from mcp.shared.exceptions import MCPError

from prynai_mcp.config import Settings
from prynai_mcp.redis_store import keys as scripts
from prynai_mcp.redis_store.client import RedisStore, StoreUnavailable
from prynai_mcp.redis_store.keys import Keys

logger = logging.getLogger(__name__)

_RETRY_SECONDS = 1.0
_REFRESH_SECONDS = 30.0
# Keys this replica sealed with before converging on another one stay able to open for a while (tokens live
# 10 minutes by default; a few ring changes in that time are already an incident).
_MAX_RING = 4
# Set by `seal` when it refuses for want of a key, read by `explain_seal_failures` in the same request's task.
_seal_refused: ContextVar[bool] = ContextVar("prynai_seal_refused", default=False)


def new_key() -> str:
    """A fresh shared key: 32 random bytes as hex (64 characters, what the SDK's codec accepts as a secret)."""
    return secrets.token_hex(32)


async def load_shared_key(store: RedisStore, keys: Keys, offer: str | None = None) -> str:
    """The deployment's shared key, storing `offer` (default: a new random key) if there is none yet."""
    get_or_set = store.script(scripts.GET_OR_SET)
    async with store.available():
        value: Any = await get_or_set(keys=[keys.request_state_key()], args=[offer or new_key()])
    return str(value)


async def request_state_security(settings: Settings, store: RedisStore | None) -> RequestStateSecurity | None:
    """The policy every replica shares: explicit keys, else the key in Redis, else None (the SDK's per-process key).

    Raises `StoreUnavailable` when the key has to come from Redis and Redis cannot be reached.
    """
    if settings.prynai_request_state_keys:
        return RequestStateSecurity(keys=settings.prynai_request_state_keys)
    if store is None:
        return None
    return RequestStateSecurity(keys=[await load_shared_key(store, Keys(settings.prynai_redis_prefix))])


_NOT_LOADED = "the shared request-state key has not been loaded from Redis yet"


class SharedRequestState:
    """A `RequestStateCodec` whose ring is set after construction: pass `security` to `MCPServer`, run `run`."""

    def __init__(self, store: RedisStore | None, keys: Keys, *, explicit_keys: Sequence[str] = ()) -> None:
        if store is None and not explicit_keys:
            raise ValueError("SharedRequestState needs Redis or explicit keys")
        self._store = store
        self._keys = keys
        self._explicit = list(explicit_keys)
        self._ring: list[str] = []
        self._codec: AESGCMRequestStateCodec | None = None
        self._pending_logged = False
        if self._explicit:
            self._install(self._explicit)  # known now: no window without a ring
        self.security = RequestStateSecurity(codec=self)

    @classmethod
    def from_settings(cls, settings: Settings, store: RedisStore | None) -> SharedRequestState | None:
        """What the configuration asks for; None when one process may keep the SDK's per-process key."""
        if not settings.prynai_request_state_keys and store is None:
            return None
        return cls(store, Keys(settings.prynai_redis_prefix), explicit_keys=settings.prynai_request_state_keys)

    @property
    def loaded(self) -> bool:
        return self._codec is not None

    def seal(self, payload: bytes) -> str:
        codec = self._codec
        if codec is None:
            # Nothing is sealed under a key another replica could not open. The SDK turns this into an internal
            # error; `explain_seal_failures` tells the client what it really is.
            _seal_refused.set(True)
            raise StoreUnavailable(_NOT_LOADED)
        return codec.seal(payload)

    def unseal(self, token: str) -> bytes:
        codec = self._codec
        if codec is None:
            raise InvalidRequestState("request-state key not loaded")
        return codec.unseal(token)

    async def explain_seal_failures(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Server middleware, outside the SDK's request-state boundary: a result that could not be sealed for want
        of the shared key is answered with the store-unavailable error, not the SDK's "Internal error"."""
        token = _seal_refused.set(False)
        try:
            return await call_next(ctx)
        except MCPError:
            if _seal_refused.get():
                raise StoreUnavailable(_NOT_LOADED) from None
            raise
        finally:
            _seal_refused.reset(token)

    async def load(self) -> None:
        """Adopt the deployment's shared key (or re-offer ours if Redis lost it). Raises `StoreUnavailable`."""
        if self._explicit or self._store is None:
            return
        current = self._ring[0] if self._ring else None
        shared = await load_shared_key(self._store, self._keys, offer=current)
        if shared != current:
            if current is not None:
                logger.warning(
                    "the shared request-state key changed in Redis; adopting it",
                    extra={"event": "request_state_key_changed"},
                )
            # Keep earlier keys for opening: tokens this replica sealed a moment ago are still in clients' hands.
            self._install([shared, *(key for key in self._ring if key != shared)][:_MAX_RING])

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Load the ring before reporting started (or fail fast if Redis is down), then keep it in step."""
        if self._explicit or self._store is None:
            task_status.started()
            return
        await self._try_load()
        task_status.started()
        while True:
            await anyio.sleep(_REFRESH_SECONDS if self.loaded else _RETRY_SECONDS)
            await self._try_load()

    async def _try_load(self) -> None:
        was_loaded = self.loaded
        try:
            await self.load()
        except StoreUnavailable as error:
            if was_loaded or self._pending_logged:
                return  # keep sealing with the key we have (every replica holds the same one), or already said so
            self._pending_logged = True
            logger.warning(
                "cannot load the shared request-state key yet (%s); retrying",
                error.detail,
                extra={"event": "request_state_key_pending"},
            )
            return
        if not was_loaded:
            logger.info("shared request-state key loaded", extra={"event": "request_state_key_loaded"})

    def _install(self, ring: list[str]) -> None:
        self._codec = AESGCMRequestStateCodec(ring)
        self._ring = ring
