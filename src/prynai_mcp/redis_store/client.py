"""The process's one Redis connection pool: lazily connected, self-healing, failing fast.

Guarantees, whatever state Redis is in:
- building a `RedisStore` never touches the network, so the server starts while Redis is down;
- a call made while Redis is down or silent fails within the connect/command timeouts (about a second or two), as
  `StoreUnavailable`, never after a retry loop and never as a bare redis-py error;
- the first call after Redis comes back succeeds: the pool replaces connections the old server closed when it hands
  them out (redis-py checks each pooled connection before use), so nothing has to be restarted.

`StoreUnavailable` is an `MCPError` on purpose: a tool or resource that raises it reaches the client as a JSON-RPC
error on either wire (MCPServer turns any other exception into an opaque tool error), and the HTTP layer can answer
it with 503 and `Retry-After` from `StoreUnavailable.retry_after`.
Entry: `RedisStore(url)`, `store.available()` around calls, `store.ping()`, `store.close()`.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.credentials import CredentialProvider
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.maint_notifications import MaintNotificationsConfig

from prynai_mcp import telemetry

logger = logging.getLogger(__name__)

# JSON-RPC code for "the shared store is unreachable, retry": in the implementation-defined server-error range
# (-32000..-32099), clear of the codes the SDK and the spec use there.
STORE_UNAVAILABLE = -32053

CONNECT_TIMEOUT_SECONDS = 1.0
# Per socket read: the longest one command may wait for Redis to answer. Our commands are O(1) or O(own data).
COMMAND_TIMEOUT_SECONDS = 2.0
HEALTH_TIMEOUT_SECONDS = 1.0
RETRY_AFTER_SECONDS = 2
# The pool's bound (`PRYNAI_REDIS_MAX_CONNECTIONS`): the most connections one replica opens to Redis, whatever it
# serves. Waiting streams hold none (`prynai_mcp.sessions.wakeups`); three long-lived pub/sub listeners hold one each.
# A call that finds every connection busy waits for one up to `POOL_WAIT_SECONDS`, then fails as `StoreUnavailable`.
DEFAULT_MAX_CONNECTIONS = 64
POOL_WAIT_SECONDS = 10.0

_SCHEMES = {"redis", "rediss", "unix"}
# What "Redis is not there" looks like from redis-py and the socket layer (BusyLoadingError, Redis replaying its
# AOF after a restart, is a ConnectionError too).
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError)


class StoreUnavailable(MCPError):
    """Redis could not be reached, or did not answer in time. Transient: the caller may retry.

    The client is told that, when to retry and a `requestId`; what went wrong inside (addresses, driver errors) goes
    to the log under the same id (`report()`, called where the error reaches a client), never to the client."""

    def __init__(self, detail: str, *, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        self.request_id = uuid.uuid4().hex[:16]
        super().__init__(
            STORE_UNAVAILABLE,
            "Shared state store (Redis) is unavailable; retry shortly",
            {"reason": "store_unavailable", "retryAfterSeconds": retry_after, "requestId": self.request_id},
        )
        self.retry_after = retry_after
        self.detail = detail
        self._reported = False

    def report(self) -> None:
        """Log what happened, once, under the id the client is given."""
        if not self._reported:
            self._reported = True
            logger.warning(
                "shared state store unavailable: %s",
                self.detail,
                extra={"event": "store_unavailable", "request_id": self.request_id},
            )


async def report_store_outages(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Server middleware: a request that fails because Redis is unavailable is logged with the id its client gets."""
    try:
        return await call_next(ctx)
    except StoreUnavailable as error:
        error.report()
        raise


def redacted(url: str) -> str:
    """`url` without its password, for logs (`rediss://:<key>@host:6380/0` -> `rediss://:***@host:6380/0`)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo = f"{parts.username or ''}:***"
    host = parts.hostname or ""
    netloc = f"{userinfo}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class RedisStore:
    """A redis-py asyncio client configured to fail fast and heal by itself. Responses are decoded to `str`."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        command_timeout: float = COMMAND_TIMEOUT_SECONDS,
        credential_provider: CredentialProvider | None = None,
        auth: str = "",
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        scheme = urlsplit(url).scheme
        if scheme not in _SCHEMES:
            raise ValueError(f"REDIS_URL must start with redis://, rediss:// or unix://, got {redacted(url)!r}")
        self.url = url
        # How this replica authenticates, for logs ("" means: as REDIS_URL says, a password or nothing).
        self.auth = auth
        # from_url parses the URL (password, db, TLS for rediss://) and connects nothing until the first command.
        # Blocking: at the bound a call waits for a connection to come back instead of failing at once.
        pool = BlockingConnectionPool.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=connect_timeout,
            socket_timeout=command_timeout,
            max_connections=max_connections,
            timeout=POOL_WAIT_SECONDS,
            # No retries: a down Redis must surface at once (and redis-py's default backoff makes shutdown and
            # every failing call take seconds). Stale pooled connections are replaced before use, not retried.
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            # Off, not redis-py 8's "auto": with it on, the pool skips its check for connections the server closed,
            # so after a Redis restart each stale pooled connection would fail one command. (The notifications are
            # a RESP3 feature of some managed Redis offerings; we speak RESP2 and reconnect by ourselves.)
            maint_notifications_config=MaintNotificationsConfig(enabled=False),
            # Entra ID: user name and token from the provider, for each new connection.
            credential_provider=credential_provider,
        )
        # Given to the client as well (not only to the pool, which is all `Redis.from_url` does): only then does
        # redis-py re-authenticate the open connections each time the provider renews its token.
        self.client: Redis = telemetry.redis_client(pool, credential_provider)  # with telemetry on: measured

    def __repr__(self) -> str:
        return f"RedisStore({redacted(self.url)!r})"

    @contextlib.asynccontextmanager
    async def available(self) -> AsyncIterator[None]:
        """Run the block's Redis calls; turn "Redis is not there" into `StoreUnavailable`."""
        try:
            yield
        except UNAVAILABLE_ERRORS as error:
            raise StoreUnavailable(f"{type(error).__name__}: {error}") from error

    def script(self, source: str) -> AsyncScript:
        """A Lua script bound to this client (sent by hash, re-sent in full when Redis lost its script cache)."""
        return self.client.register_script(source)

    def pubsub(self) -> PubSub:
        """A new pub/sub connection that skips subscribe confirmations."""
        return self.client.pubsub(ignore_subscribe_messages=True)

    async def ping(self) -> bool:
        """Whether Redis answers PING within `HEALTH_TIMEOUT_SECONDS`. Never raises."""
        with anyio.move_on_after(HEALTH_TIMEOUT_SECONDS):
            try:
                answer: Any = await self.client.ping()
            except Exception as error:  # health probe: any failure means "not healthy", never an error page
                logger.debug("redis ping failed: %s", error)
                return False
            return bool(answer)
        return False

    async def close(self) -> None:
        """Close every pooled connection. Quick even when Redis is gone (no retries to wait out)."""
        with contextlib.suppress(*UNAVAILABLE_ERRORS):
            await self.client.aclose(close_connection_pool=True)
