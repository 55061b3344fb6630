"""The change feed: how a change of a resource reaches its subscribers on both wires, even when a replica dies.

- 2026-07-28 `subscriptions/listen` streams hear of it through the `SubscriptionBus` (Redis pub/sub across
  replicas), fire-and-forget, as the SDK's contract for those streams says.
- Legacy sessions that sent `resources/subscribe` hear of it on their GET stream, through the change journal
  (`prynai_mcp.state.journal`): each session subscribed when the change began is told exactly once, and a change
  whose replica died before everyone was told is finished by another replica (`recover`).

A tool makes its change inside `changing(uri)`, so the change is journalled before it is made. `ChangeFeed` is also
the `SubscriptionBus` MCPServer is given, so `ctx.notify_resource_updated` after a change works too, journalled
from the announcement on. Entry: `ChangeFeed(bus, journal)`, `changing`, and `recover` as a lifespan task.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import anyio
import anyio.abc
from mcp.server.subscriptions import ResourceUpdated, ServerEvent, SubscriptionBus

from prynai_mcp.state.journal import Change, ChangeJournal

logger = logging.getLogger(__name__)


class ChangeFeed:
    """The `SubscriptionBus` given to MCPServer: each change reaches modern listeners and legacy subscribers."""

    def __init__(self, bus: SubscriptionBus, journal: ChangeJournal) -> None:
        self._bus = bus
        self._journal = journal
        self._working: set[str] = set()  # ids of the changes this replica is announcing now

    @contextlib.asynccontextmanager
    async def changing(self, uri: str) -> AsyncIterator[None]:
        """Make a change of `uri` inside the block; its subscribers are told when the block ends, however it ends.

        Raises `StoreUnavailable` before the block runs when the journal cannot be written: make no change then.
        Announced even when the block raises (the change may have been made): a needless notification costs the
        subscriber a read, a missing one leaves it wrong. Never fails the change for an announcement that failed:
        what could not be told now is told later (`recover`).
        """
        change = await self._journal.open(uri)
        self._working.add(change.change_id)
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):  # a cancelled call may have made its change all the same
                await self._announce(change)

    async def publish(self, event: ServerEvent) -> None:
        """Announce a change made already (`ctx.notify_resource_updated`) or a list change; never raises."""
        if isinstance(event, ResourceUpdated):
            try:
                async with self.changing(event.uri):
                    pass  # the change came first
                return
            except Exception:  # the journal is out of reach: this replica's own listeners can still hear of it
                logger.warning("could not journal a change of %s; its legacy subscribers miss it", event.uri)
        await self._bus.publish(event)

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        return self._bus.subscribe(listener)

    async def recover(
        self, every_seconds: float, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Finish, every `every_seconds`, the changes that dead replicas (or a store outage) left unfinished."""
        task_status.started()
        last_failure = ""
        while True:
            await anyio.sleep(every_seconds)
            try:
                abandoned = await self._journal.abandoned(self._working)
            except Exception as error:  # the store is down; the connectivity log says so already, once
                if str(error) != last_failure:
                    logger.warning("could not look for unfinished changes: %s", error)
                last_failure = str(error)
                continue
            last_failure = ""
            for change in abandoned:
                self._working.add(change.change_id)
                told = await self._announce(change)
                if told is not None:
                    logger.warning(
                        "finished a change of %s that replica %s left unfinished: told %d more sessions",
                        change.uri,
                        change.left_by,
                        told,
                        extra={"event": "change_recovered", "uri": change.uri, "replica_left": change.left_by},
                    )

    async def _announce(self, change: Change) -> int | None:
        """Tell every listener and owed session of `change`, then close it; how many sessions were told now, or
        None when the journal could not be reached (the change stays journalled and is retried)."""
        try:
            await self._bus.publish(ResourceUpdated(uri=change.uri))  # never raises
            told = await self._journal.tell(change)
            await self._journal.close(change)
        except Exception as error:
            logger.warning("could not tell the subscribers of %s now (%s); retrying", change.uri, error)
            return None
        finally:
            self._working.discard(change.change_id)
        return told
