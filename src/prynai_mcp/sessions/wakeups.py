"""Who on this replica waits for which stream of the event log, so that an append wakes exactly its readers.

A waiting stream costs an `anyio.Event` here, never a Redis connection: with Redis, one pub/sub listener per replica
(`RedisWakeups`) hears every append and wakes the streams waiting for it, so 10,000 open GET streams use the same few
connections as none.

Guarantee: no append is missed. A reader registers (`watching`) before it first reads the log and stays registered
while its stream is open, so an append at any moment after that, during a read included, leaves its `Watch` pending
and the next `wait` returns at once. A wake-up carries no data (the reader reads the log again), so a spurious one
costs a read and a lost one (the listener reconnecting) costs at most one wait: after a reconnect the listener wakes
every reader, and each reads the log again. A wait that times out unwoken costs nothing: no read follows it.
Entry: `Wakeups.watching()` for the life of a stream, `Wakeups.wake()` after an append.
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


class Watch:
    """One reader's registration: pending from the start (the first `wait` returns at once, so the reader reads), and
    again after each wake-up."""

    def __init__(self) -> None:
        self._pending = True
        self._woken = anyio.Event()

    def set(self) -> None:
        self._pending = True
        self._woken.set()

    async def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for a wake-up; whether there was one (then read the log: it may have grown)."""
        if not self._pending:
            with anyio.move_on_after(seconds):
                await self._woken.wait()
        woken = self._pending
        if woken:
            # Reset before the reader reads: an append during its read wakes this watch again.
            self._pending = False
            self._woken = anyio.Event()
        return woken


class Wakeups:
    """This replica's waiting readers, by session and stream."""

    def __init__(self) -> None:
        self._waiting: dict[str, dict[str, set[Watch]]] = {}

    @contextlib.contextmanager
    def watching(self, session_id: str, stream: str) -> Iterator[Watch]:
        """A watch woken when `stream` of `session_id` may have something new (or the session ended)."""
        watch = Watch()
        readers = self._waiting.setdefault(session_id, {}).setdefault(stream, set())
        readers.add(watch)
        try:
            yield watch
        finally:
            readers.discard(watch)
            streams = self._waiting.get(session_id)
            if streams is not None and not streams.get(stream):
                streams.pop(stream, None)
                if not streams:
                    del self._waiting[session_id]

    def wake(self, session_id: str, stream: str) -> None:
        for watch in self._waiting.get(session_id, {}).get(stream, ()):
            watch.set()

    def wake_session(self, session_id: str) -> None:
        for readers in self._waiting.get(session_id, {}).values():
            for watch in readers:
                watch.set()

    def wake_all(self) -> None:
        for session_id in list(self._waiting):
            self.wake_session(session_id)

    @property
    def waiting_readers(self) -> int:
        return sum(len(readers) for streams in self._waiting.values() for readers in streams.values())


class RedisWakeups:
    """The one pub/sub connection of a replica that hears every append (`Keys.streams_appended`)."""

    def __init__(self, store: RedisStore, keys: Keys, wakeups: Wakeups) -> None:
        self._store = store
        self._channel = keys.streams_appended()
        self._wakeups = wakeups

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Listen until cancelled, reconnecting as needed; reports started at once (a down Redis must not hold up
        start-up: once the listener is (back) in place it wakes every reader, and each reads the log again)."""
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
