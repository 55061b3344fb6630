"""Who on this replica waits for which stream of the event log, so that an append wakes exactly its readers.

A waiting stream costs an `anyio.Event` here, never a Redis connection: with Redis, one pub/sub listener per replica
(`RedisWakeups`) hears every append and wakes the streams waiting for it, so 10,000 open GET streams use the same few
connections as none.

Guarantee: no append is missed. A reader registers (`waiting`) before it reads the log and waits only when it found
nothing, so an append between its read and its wait still wakes it. A wake-up carries no data (the reader reads the
log again), so a spurious one costs a read and a lost one (the listener reconnecting) costs at most one wait: after
a reconnect the listener wakes every reader, and each reads the log again.
Entry: `Wakeups.waiting()` around a read-then-wait, `Wakeups.wake()` after an append.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import anyio
import anyio.abc

from prynai_mcp.redis_store.client import RedisStore
from prynai_mcp.redis_store.keys import Keys

logger = logging.getLogger(__name__)

_POLL_SECONDS = 1.0
_RECONNECT_SECONDS = 1.0
# A quiet subscription is pinged now and then, so a connection that died silently is found and replaced.
_PING_SECONDS = 30.0


class Wakeups:
    """This replica's waiting readers, by session and stream."""

    def __init__(self) -> None:
        self._waiting: dict[str, dict[str, set[anyio.Event]]] = {}

    @contextlib.contextmanager
    def waiting(self, session_id: str, stream: str) -> Iterator[anyio.Event]:
        """An event set when `stream` of `session_id` may have something new (or the session ended)."""
        woken = anyio.Event()
        readers = self._waiting.setdefault(session_id, {}).setdefault(stream, set())
        readers.add(woken)
        try:
            yield woken
        finally:
            readers.discard(woken)
            streams = self._waiting.get(session_id)
            if streams is not None and not streams.get(stream):
                streams.pop(stream, None)
                if not streams:
                    del self._waiting[session_id]

    def wake(self, session_id: str, stream: str) -> None:
        for woken in self._waiting.get(session_id, {}).get(stream, ()):
            woken.set()

    def wake_session(self, session_id: str) -> None:
        for readers in self._waiting.get(session_id, {}).values():
            for woken in readers:
                woken.set()

    def wake_all(self) -> None:
        for session_id in list(self._waiting):
            self.wake_session(session_id)

    @property
    def waiting_readers(self) -> int:
        return sum(len(readers) for streams in self._waiting.values() for readers in streams.values())


async def wait(woken: anyio.Event, seconds: float) -> bool:
    """Wait up to `seconds` for `woken`; whether it was set."""
    with anyio.move_on_after(seconds):
        await woken.wait()
    return woken.is_set()


class RedisWakeups:
    """The one pub/sub connection of a replica that hears every append (`Keys.streams_appended`)."""

    def __init__(self, store: RedisStore, keys: Keys, wakeups: Wakeups) -> None:
        self._store = store
        self._channel = keys.streams_appended()
        self._wakeups = wakeups

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Listen until cancelled, reconnecting as needed; reports started at once (a down Redis must not hold up
        start-up: readers fall back to reading at each keep-alive until the listener is back)."""
        task_status.started()
        while True:
            pubsub = self._store.pubsub()
            try:
                async with self._store.available():
                    await pubsub.subscribe(self._channel)
                    # Appends made while nobody listened woke nobody: every reader looks again.
                    self._wakeups.wake_all()
                    quiet_since = anyio.current_time()
                    while True:
                        message = await pubsub.get_message(timeout=_POLL_SECONDS)
                        if message is None:
                            if anyio.current_time() - quiet_since >= _PING_SECONDS:
                                await pubsub.ping()
                                quiet_since = anyio.current_time()
                            continue
                        quiet_since = anyio.current_time()
                        if message.get("type") == "message":
                            session_id, _, stream = str(message["data"]).partition(" ")
                            self._wakeups.wake(session_id, stream)
            except Exception as error:  # any failure of the subscription ends in a fresh connection
                logger.debug("stream wake-ups lost Redis (%s); reconnecting", error)
            finally:
                with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves PubSub.aclose untyped
            await anyio.sleep(_RECONNECT_SECONDS)
