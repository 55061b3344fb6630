"""A `SubscriptionBus` that spans replicas: events go through one Redis pub/sub channel per deployment.

`publish` sends the event to Redis; `run` (a task in the app's lifespan) listens on the channel and hands every
event, this replica's own included, to the local listeners: the SDK's `subscriptions/listen` streams and the legacy
subscription feed. So a change made on any replica reaches listeners on every replica.

Delivery keeps the SDK's contract (`mcp.server.subscriptions`): fire-and-forget, no replay. Events are level
triggers ("refetch if you care"), so the failure modes lose nothing a refetch would not recover:
- Redis unreachable on `publish`: the event is delivered to this replica's listeners only, and `publish` returns;
  the change that caused it already happened and must not be reported as failed.
- Listener disconnected (Redis restarting): `run` reconnects by itself with a short backoff; events published
  meanwhile reach other replicas' listeners, and this replica's own ones are delivered locally.
Entry: `RedisSubscriptionBus(store, keys)`, then `await task_group.start(bus.run)`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
from mcp.server.subscriptions import (
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
    ServerEvent,
    ToolsListChanged,
)
from redis.asyncio.client import PubSub

from prynai_mcp.redis_store.client import RedisStore
from prynai_mcp.redis_store.keys import Keys

logger = logging.getLogger(__name__)

# How long one wait for a message lasts before the loop checks in (cancellation, keep-alive).
_POLL_SECONDS = 1.0
# PING an idle subscription this often: managed Redis (Azure closes idle connections after 10 minutes) and
# middleboxes drop silent connections, and a dead one is only noticed when something is read or written.
_KEEPALIVE_SECONDS = 60.0
_RECONNECT_MIN_SECONDS = 0.1
_RECONNECT_MAX_SECONDS = 2.0

_SIMPLE_EVENTS: dict[str, ServerEvent] = {
    "tools_list_changed": ToolsListChanged(),
    "prompts_list_changed": PromptsListChanged(),
    "resources_list_changed": ResourcesListChanged(),
}
_KIND_OF: dict[type[Any], str] = {type(event): kind for kind, event in _SIMPLE_EVENTS.items()}


def encode_event(event: ServerEvent) -> str:
    """`{"kind": "resource_updated", "uri": "..."}` or `{"kind": "tools_list_changed"}` (and the other lists)."""
    if isinstance(event, ResourceUpdated):
        return json.dumps({"kind": "resource_updated", "uri": event.uri}, separators=(",", ":"))
    return json.dumps({"kind": _KIND_OF[type(event)]}, separators=(",", ":"))


def decode_event(text: str) -> ServerEvent | None:
    """The event `encode_event` wrote, or None for anything else (a newer replica's kind, garbage)."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    kind = data.get("kind")
    if kind == "resource_updated":
        uri = data.get("uri")
        return ResourceUpdated(uri=uri) if isinstance(uri, str) else None
    return _SIMPLE_EVENTS.get(kind) if isinstance(kind, str) else None


class RedisSubscriptionBus:
    """`SubscriptionBus` over Redis pub/sub; local listeners as in the SDK's `InMemorySubscriptionBus`."""

    def __init__(self, store: RedisStore, keys: Keys) -> None:
        self.store = store
        self.channel = keys.events_channel()
        self._listeners: dict[object, Callable[[ServerEvent], None]] = {}
        # True while `run` holds a live subscription: only then will this replica's own events come back to it.
        self._listening = False

    @property
    def listening(self) -> bool:
        """Whether events from other replicas are being received right now."""
        return self._listening

    async def publish(self, event: ServerEvent) -> None:
        """Send `event` to every replica's listeners; never raises for an unreachable Redis."""
        try:
            async with self.store.available():
                await self.store.client.publish(self.channel, encode_event(event))
        except Exception as error:  # a change notification must not fail the change that caused it
            logger.warning("could not publish %r to Redis (%s); delivering to this replica only", event, error)
            self._deliver(event)
        else:
            if not self._listening:
                # Published, but our own subscription is down: Redis will not echo it back to us.
                self._deliver(event)
        # As the SDK's bus does: let listen streams drain between events of a burst.
        await anyio.lowlevel.checkpoint()

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        """Register a local `listener`; returns an idempotent unsubscribe."""
        token = object()
        self._listeners[token] = listener

        def unsubscribe() -> None:
            self._listeners.pop(token, None)

        return unsubscribe

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Receive events from Redis and deliver them locally, reconnecting as needed, until cancelled.

        Reports started after the first attempt to subscribe, successful or not: a down Redis must not hold up
        start-up.
        """
        started = False
        delay = _RECONNECT_MIN_SECONDS
        outage_logged = False
        while True:
            pubsub = self.store.pubsub()
            try:
                async with self.store.available():
                    await pubsub.subscribe(self.channel)
                self._listening = True
                if outage_logged:
                    logger.info("listening for events on Redis again", extra={"event": "redis_bus_reconnected"})
                outage_logged = False
                delay = _RECONNECT_MIN_SECONDS
                if not started:
                    started = True
                    task_status.started()
                await self._receive(pubsub)
            except Exception as error:
                # Any failure of the subscription (Redis gone, a protocol surprise) ends in a fresh connection.
                if not outage_logged:
                    logger.warning(
                        "event subscription to Redis lost (%s); reconnecting",
                        error.__cause__ or error,  # StoreUnavailable's own message says less than its cause
                        extra={"event": "redis_bus_disconnected"},
                    )
                    outage_logged = True
            finally:
                self._listening = False
                with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves PubSub.aclose untyped
            if not started:
                started = True
                task_status.started()
            await anyio.sleep(delay)
            delay = min(delay * 2, _RECONNECT_MAX_SECONDS)

    async def _receive(self, pubsub: PubSub) -> None:
        last_traffic = time.monotonic()
        while True:
            async with self.store.available():
                message = await pubsub.get_message(timeout=_POLL_SECONDS)
                if message is None:
                    if time.monotonic() - last_traffic >= _KEEPALIVE_SECONDS:
                        await pubsub.ping()
                        last_traffic = time.monotonic()
                    continue
            last_traffic = time.monotonic()
            if message.get("type") != "message":
                continue
            event = decode_event(str(message.get("data")))
            if event is None:
                logger.warning("ignoring an event this replica does not understand: %.200s", message.get("data"))
                continue
            self._deliver(event)

    def _deliver(self, event: ServerEvent) -> None:
        for listener in list(self._listeners.values()):
            try:
                listener(event)
            except Exception:  # fan-out boundary: one bad listener must not starve the others
                logger.exception("subscription listener raised; continuing")
