"""What keeps open GET streams alive, done once per replica and keep-alive period for all of them, not per stream.

An open stream must keep its session alive (the record's idle TTL), keep its slot among the session's streams
(`PRYNAI_MAX_STREAMS_PER_SESSION`, a lease) and end when its session ends elsewhere (DELETE, expiry). Done per
stream, that is a few Redis calls per stream and period: at 10,000 streams and a 10 s keep-alive, thousands of calls
a second, enough to saturate a replica. Here one task (`run`, a lifespan task) does it every period for every
stream open on the replica, sessions batched a few hundred to a round trip: Redis work grows with sessions, not with
how often each stream says it is alive, and a waiting stream itself makes no call at all.

Guarantees: every period, each session with a stream open here has its record renewed (and `used` called, so what it
recorded lives as long as it does) and each stream's slot renewed; a stream whose session is gone is told within a
period (`Held.ended`, and a wake-up of its watch). A Redis outage skips a round (logged once per outage): streams
stay open, their slots' leases outlive a few missed rounds.
Entry: `StreamKeepAlive.holding()` for the life of a stream, `StreamKeepAlive.run()` in the app's lifespan.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import anyio
import anyio.abc

from prynai_mcp.sessions.registry import SessionRecord, SessionRegistry
from prynai_mcp.sessions.slots import Slots
from prynai_mcp.sessions.wakeups import Watch

logger = logging.getLogger(__name__)

# Sessions renewed per Redis round trip: big enough to amortise the trip, small enough not to stall Redis for others.
BATCH_SESSIONS = 256


@dataclass
class Held:
    """One open stream, as the keep-alive round sees it."""

    slot: str
    watch: Watch  # woken when the session is found gone
    ended: bool = False  # its session is gone: the stream should end


class StreamKeepAlive:
    def __init__(
        self,
        *,
        period_seconds: float,
        registry: SessionRegistry,
        slots: Slots,
        used: Callable[[SessionRecord], Awaitable[None]],
    ) -> None:
        self._period = period_seconds
        self._registry = registry
        self._slots = slots
        self._used = used
        self._open: dict[str, dict[str, Held]] = {}  # session id -> slot -> stream
        self._failing = False

    @contextlib.contextmanager
    def holding(self, session_id: str, slot: str, watch: Watch) -> Iterator[Held]:
        """Keep this stream (its `slot` among the session's) alive until the block exits; `watch` is its watch of
        the event log, woken should the session end."""
        held = Held(slot, watch)
        self._open.setdefault(session_id, {})[slot] = held
        try:
            yield held
        finally:
            streams = self._open.get(session_id)
            if streams is not None:
                streams.pop(slot, None)
                if not streams:
                    del self._open[session_id]

    @property
    def open_streams(self) -> int:
        return sum(len(streams) for streams in self._open.values())

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """A round every period until cancelled."""
        task_status.started()
        while True:
            await anyio.sleep(self._period)
            await self.round()

    async def round(self) -> None:
        """Renew every session and slot of the streams open now; end the streams whose session is gone."""
        sessions = list(self._open)
        try:
            for batch in itertools.batched(sessions, BATCH_SESSIONS):
                await self._renew(list(batch))
        except Exception as error:  # a store outage: the next round tries again
            if not self._failing:
                logger.warning("could not keep open streams' sessions alive: %s", error)
            self._failing = True
            return
        self._failing = False

    async def _renew(self, batch: list[str]) -> None:
        records = await self._registry.get_many(batch)
        for session_id in batch:
            if session_id not in records:
                for held in self._open.get(session_id, {}).values():
                    held.ended = True
                    held.watch.set()
        await self._slots.renew_many({sid: list(self._open[sid]) for sid in records if sid in self._open})
        for record in records.values():
            await self._used(record)
