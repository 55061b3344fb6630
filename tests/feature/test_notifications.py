"""`long_task` streams a progress notification and a log line for every step, in order, then returns "done"."""

from __future__ import annotations

from typing import Any

import anyio

from tests.support.clients import Recorder, client, text_of
from tests.support.server import RunningServer
from tests.support.waiting import eventually


async def test_progress_and_logs_stream_in_order(server: RunningServer, wire: str) -> None:
    recorder = Recorder()
    # On 2026-07-28 a request opts in to log lines with `_meta` (log_level); on legacy they flow by default.
    async with client(server.mcp_url, wire, logging_callback=recorder.log, log_level="info") as mcp:
        result = await mcp.call_tool(
            "long_task", {"steps": 4, "delay_seconds": 0.01}, progress_callback=recorder.progress
        )
    assert result.content[0].text == "done"  # type: ignore[union-attr]
    expected: list[tuple[str, Any]] = []
    for step in range(1, 5):
        expected.append(("progress", (step, 4, f"step {step}/4")))
        expected.append(("log", ("info", f"long_task step {step}/4")))
    assert recorder.events == expected


async def test_legacy_set_level_filters_log_lines(server: RunningServer) -> None:
    recorder = Recorder()
    async with client(server.mcp_url, "legacy", logging_callback=recorder.log) as mcp:
        await mcp.set_logging_level("warning")
        await mcp.call_tool("long_task", {"steps": 2, "delay_seconds": 0}, progress_callback=recorder.progress)
        assert [kind for kind, _ in recorder.events] == ["progress", "progress"]

        recorder.events.clear()
        await mcp.set_logging_level("debug")
        await mcp.call_tool("long_task", {"steps": 1, "delay_seconds": 0}, progress_callback=recorder.progress)
        assert [kind for kind, _ in recorder.events] == ["progress", "log"]


async def test_modern_request_without_log_opt_in_gets_no_log_lines(server: RunningServer) -> None:
    recorder = Recorder()
    async with client(server.mcp_url, "modern", logging_callback=recorder.log) as mcp:
        await mcp.call_tool("long_task", {"steps": 2, "delay_seconds": 0}, progress_callback=recorder.progress)
    assert [kind for kind, _ in recorder.events] == ["progress", "progress"]


async def test_long_task_rejects_out_of_range_steps(server: RunningServer, wire: str) -> None:
    async with client(server.mcp_url, wire) as mcp:
        result = await mcp.call_tool("long_task", {"steps": 0})
    assert result.is_error
    assert text_of(result) == "Invalid arguments for tool long_task: steps: Input should be greater than or equal to 1"


async def test_a_call_the_client_abandons_is_logged_cancelled_not_error(server: RunningServer, wire: str) -> None:
    since = server.log_size()
    async with client(server.mcp_url, wire) as session:
        with anyio.move_on_after(0.5):
            await session.call_tool("long_task", {"steps": 50, "delay_seconds": 0.2})
        assert (await session.call_tool("add", {"a": 1, "b": 2})).structured_content == {"result": 3}
    await eventually(lambda: bool(_long_task_lines(server, since)), 5)
    assert [line["status"] for line in _long_task_lines(server, since)] == ["cancelled"]


def _long_task_lines(server: RunningServer, since: int) -> list[dict[str, object]]:
    return [r for r in server.log_records(since) if r.get("event") == "mcp" and r.get("tool") == "long_task"]
