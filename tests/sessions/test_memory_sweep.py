"""The embedded backend forgets what abandoned sessions left behind (it used to drop a record only when it was read,
so a client that opened sessions and walked away grew the process without end), and holds at most
PRYNAI_MAX_SESSIONS sessions. In-process, on the real stores the server builds from its settings."""

from __future__ import annotations

import anyio

from prynai_mcp.config import Settings
from prynai_mcp.services import Services
from prynai_mcp.sessions.registry import MemorySessionRegistry, RegistryFull, SessionRecord


def record(session_id: str) -> SessionRecord:
    return SessionRecord(session_id, "2025-11-25", {}, None, 0.0, principal="ip:127.0.0.1")


async def test_expired_sessions_are_swept_with_what_they_recorded() -> None:
    services = Services.from_settings(Settings(prynai_session_idle_seconds=0.2, redis_url=""))
    for index in range(50):
        session_id = f"{index:032x}"
        await services.registry.create(record(session_id))
        await services.backend.subscribe(session_id, "prynai://counter")
        await services.backend.set_log_level(session_id, "debug")
        await services.events.append(session_id, "_GET_stream", {"jsonrpc": "2.0", "method": "x"})
        assert await services.slots.sessions.acquire("ip:127.0.0.1", session_id)
    async with anyio.create_task_group() as tasks:
        await tasks.start(services.sweep, 0.1)
        await anyio.sleep(0.6)
        tasks.cancel_scope.cancel()
    assert await services.backend.subscribers("prynai://counter") == set()
    assert await services.backend.get_log_level(f"{0:032x}") is None
    assert not await services.events.has_stream(f"{0:032x}", "_GET_stream")
    # Nothing left to hold memory: the registry is empty, so a full one takes new sessions again.
    assert isinstance(services.registry, MemorySessionRegistry)
    assert services.registry.sweep() == []


async def test_the_in_memory_registry_holds_at_most_max_sessions() -> None:
    services = Services.from_settings(Settings(prynai_max_sessions=3, redis_url=""))
    for index in range(3):
        await services.registry.create(record(f"{index:032x}"))
    try:
        await services.registry.create(record(f"{9:032x}"))
    except RegistryFull:
        pass
    else:
        raise AssertionError("a fourth session was stored")
    await services.registry.delete(f"{0:032x}")
    await services.registry.create(record(f"{9:032x}"))


async def test_streams_past_their_retention_are_swept_while_the_session_lives() -> None:
    # An open session's old request streams used to stay until some later append happened to look.
    settings = Settings(prynai_event_log_seconds=0.2, prynai_session_idle_seconds=60, redis_url="")
    services = Services.from_settings(settings)
    session_id = f"{1:032x}"
    await services.registry.create(record(session_id))
    await services.events.append(session_id, "7", {"jsonrpc": "2.0", "id": 7, "result": {}})
    async with anyio.create_task_group() as tasks:
        await tasks.start(services.sweep, 0.1)
        await anyio.sleep(0.6)
        tasks.cancel_scope.cancel()
    assert not await services.events.has_stream(session_id, "7")
    assert await services.registry.get(session_id) is not None
