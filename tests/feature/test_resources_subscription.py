"""Subscribing to prynai://counter: `bump_counter` from another client notifies the subscriber; unsubscribing stops it.

Legacy wire: resources/subscribe + notifications/resources/updated on the session's GET stream.
Modern wire: subscriptions/listen, whose SSE reply is the event stream.
"""

from __future__ import annotations

import anyio
import pytest
from mcp.shared.subscriptions import ResourceUpdated

from tests.support.clients import COUNTER, ResourceUpdates, client, read_counter
from tests.support.server import RunningServer

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


async def test_legacy_subscribe_receives_updates_until_unsubscribed(server: RunningServer) -> None:
    updates = ResourceUpdates()

    async with (
        client(server.mcp_url, "legacy", message_handler=updates) as subscriber,
        client(server.mcp_url, "legacy") as other,
    ):
        before = await read_counter(subscriber)
        await subscriber.subscribe_resource(COUNTER)
        bumped = await other.call_tool("bump_counter", {"by": 2})
        assert bumped.structured_content == {"result": before + 2}
        with anyio.fail_after(5):
            await updates.arrived.wait()
        assert updates.uris == [COUNTER]
        assert await read_counter(subscriber) == before + 2

        await subscriber.unsubscribe_resource(COUNTER)
        await other.call_tool("bump_counter", {})
        # The sentinel: subscribe again and bump once more. Updates reach the GET stream in order, so a stray update
        # for the unsubscribed bump would arrive before the sentinel's.
        await subscriber.subscribe_resource(COUNTER)
        await other.call_tool("bump_counter", {})
        assert await updates.wait_for(2) == [COUNTER, COUNTER]
        assert await read_counter(subscriber) == before + 4
        assert updates.uris == [COUNTER, COUNTER]


async def test_legacy_subscription_is_per_uri(server: RunningServer) -> None:
    updates = ResourceUpdates()

    async with client(server.mcp_url, "legacy", message_handler=updates) as subscriber:
        await subscriber.subscribe_resource("prynai://status")
        await subscriber.call_tool("bump_counter", {})
        # The sentinel: the first update to arrive must be the one for the subscription taken after that bump.
        await subscriber.subscribe_resource(COUNTER)
        await subscriber.call_tool("bump_counter", {})
        assert await updates.wait_for(1) == [COUNTER]
        assert await read_counter(subscriber) >= 2
    assert updates.uris == [COUNTER]


async def test_modern_listen_hears_bump_from_another_client(server: RunningServer) -> None:
    async with client(server.mcp_url, "modern") as listener, client(server.mcp_url, "modern") as other:
        before = await read_counter(listener)
        async with listener.listen(resource_subscriptions=[COUNTER]) as subscription:
            assert subscription.honored.resource_subscriptions == [COUNTER]
            await other.call_tool("bump_counter", {"by": 5})
            with anyio.fail_after(5):
                event = await subscription.__anext__()
        assert event == ResourceUpdated(uri=COUNTER)
        assert await read_counter(other) == before + 5


async def test_modern_listen_for_other_uri_hears_nothing(server: RunningServer) -> None:
    async with (
        client(server.mcp_url, "modern") as listener,
        listener.listen(resource_subscriptions=["prynai://status"]) as elsewhere,
        listener.listen(resource_subscriptions=[COUNTER]) as sentinel,
    ):
        await listener.call_tool("bump_counter", {})
        # The sentinel listener hears the bump: by then the server has fanned it out to every listener.
        with anyio.fail_after(5):
            assert await sentinel.__anext__() == ResourceUpdated(uri=COUNTER)
        with anyio.move_on_after(0.2) as waited:  # past the fan-out, a last look for a stray event
            await elsewhere.__anext__()
        assert waited.cancelled_caught, "an update for prynai://counter reached a prynai://status listener"


async def test_legacy_subscriber_hears_a_modern_bump(server: RunningServer) -> None:
    updates = ResourceUpdates()

    async with (
        client(server.mcp_url, "legacy", message_handler=updates) as subscriber,
        client(server.mcp_url, "modern") as modern,
    ):
        await subscriber.subscribe_resource(COUNTER)
        await modern.call_tool("bump_counter", {})
        with anyio.fail_after(5):
            await updates.arrived.wait()
        assert updates.uris == [COUNTER]
        assert await read_counter(subscriber) == await read_counter(modern)


async def test_modern_listen_closed_by_the_client_is_not_an_error(server: RunningServer) -> None:
    """A client ending its `subscriptions/listen` stream is the normal end of a listen: no ERROR, no traceback."""
    since = server.log_size()
    async with client(server.mcp_url, "modern") as listener, client(server.mcp_url, "modern") as other:
        async with listener.listen(resource_subscriptions=[COUNTER]) as subscription:
            await other.call_tool("bump_counter", {})
            with anyio.fail_after(5):
                assert await subscription.__anext__() == ResourceUpdated(uri=COUNTER)
        await anyio.sleep(0.5)  # the server notices the closed stream
        await other.call_tool("add", {"a": 1, "b": 2})  # the server is still serving; its log is written by now
    records = server.log_records(since)
    assert [r for r in records if r.get("level") in ("error", "critical") or "Traceback" in str(r)] == []
    listens = [r for r in records if r.get("event") == "mcp" and r.get("method") == "subscriptions/listen"]
    assert [r["status"] for r in listens] == ["closed"]
