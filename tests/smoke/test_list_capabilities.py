"""A client connects, lists everything, calls a tool and reads the status resource, on both wires."""

from __future__ import annotations

import json

from tests.support.clients import PROTOCOLS, client, text_of
from tests.support.server import RunningServer


async def test_lists_the_whole_surface(server: RunningServer, wire: str) -> None:
    async with client(server.mcp_url, wire) as mcp:
        assert mcp.protocol_version == PROTOCOLS[wire]
        assert mcp.server_info is not None and mcp.server_info.name == "prynai-mcp"

        tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
        assert list(tools) == ["add", "echo", "long_task", "summarize_via_client_llm", "bump_counter"]
        for tool in tools.values():
            assert tool.title and tool.description, tool.name
            assert tool.annotations is not None, tool.name
        assert tools["add"].annotations is not None and tools["add"].annotations.read_only_hint is True
        assert tools["bump_counter"].annotations is not None
        assert tools["bump_counter"].annotations.read_only_hint is False
        # The sampled summary is filled by the server, never asked of the caller.
        assert set(tools["summarize_via_client_llm"].input_schema["properties"]) == {"text"}

        resources = {r.uri: r for r in (await mcp.list_resources()).resources}
        assert list(resources) == ["prynai://status", "prynai://counter"]
        assert all(r.title and r.description for r in resources.values())

        templates = (await mcp.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["hello://{name}"]

        prompts = (await mcp.list_prompts()).prompts
        assert [p.name for p in prompts] == ["quick_summary"]


async def test_calls_add_and_reads_status(server: RunningServer, wire: str) -> None:
    async with client(server.mcp_url, wire) as mcp:
        result = await mcp.call_tool("add", {"a": 2, "b": 3})
        assert not result.is_error
        assert result.content[0].text == "5"  # type: ignore[union-attr]
        assert result.structured_content == {"result": 5}

        contents = (await mcp.read_resource("prynai://status")).contents
        status = json.loads(contents[0].text)  # type: ignore[union-attr]
        assert status["status"] == "ok"
        assert status["backend"] == "memory"
        assert status["environment"] == "local"
        assert {"version", "build", "uptime_seconds"} <= status.keys()

        greeting = (await mcp.read_resource("hello://Ada")).contents
        assert greeting[0].text == "Hello, Ada!"  # type: ignore[union-attr]


async def test_echo_and_a_tool_error_are_reported(server: RunningServer, wire: str) -> None:
    async with client(server.mcp_url, wire) as mcp:
        echoed = await mcp.call_tool("echo", {"text": "héllo ✓"})
        assert echoed.content[0].text == "héllo ✓"  # type: ignore[union-attr]

        bad = await mcp.call_tool("add", {"a": "two", "b": 3})
        assert bad.is_error
        # The tool, the field and what is wrong with it; not the value sent, no library internals or links.
        assert text_of(bad) == (
            "Invalid arguments for tool add: a: Input should be a valid integer, unable to parse string as an integer"
        )
        missing = await mcp.call_tool("add", {"a": 1})
        assert missing.is_error and text_of(missing) == "Invalid arguments for tool add: b: Field required"
