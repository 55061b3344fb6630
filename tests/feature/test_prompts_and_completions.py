"""The quick_summary prompt (title, described arguments, structured messages) and completions for both references."""

from __future__ import annotations

import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, PromptReference, ResourceTemplateReference

from tests.support.clients import client
from tests.support.server import RunningServer


async def test_prompt_listing_has_title_and_argument_schema(server: RunningServer, wire: str) -> None:
    async with client(server.mcp_url, wire) as mcp:
        (prompt,) = (await mcp.list_prompts()).prompts
    assert prompt.name == "quick_summary"
    assert prompt.title == "Quick summary"
    assert prompt.description
    arguments = {arg.name: arg for arg in prompt.arguments or []}
    assert list(arguments) == ["title", "text", "style"]
    assert arguments["title"].required and arguments["text"].required
    assert not arguments["style"].required
    assert all(arg.description for arg in arguments.values())


async def test_get_prompt_returns_structured_messages(server: RunningServer, wire: str) -> None:
    async with client(server.mcp_url, wire) as mcp:
        result = await mcp.get_prompt("quick_summary", {"title": "MCP Phase 1", "text": "Subscriptions work."})
        casual = await mcp.get_prompt("quick_summary", {"title": "T", "text": "x", "style": "casual"})
    assert [m.role for m in result.messages] == ["user", "user"]
    assert result.messages[0].content.text == "Write a concise, formal summary. Document title: MCP Phase 1"  # type: ignore[union-attr]
    assert result.messages[1].content.text == "Subscriptions work."  # type: ignore[union-attr]
    assert casual.messages[0].content.text.startswith("Write a concise, casual summary.")  # type: ignore[union-attr]


async def test_bad_prompt_requests_are_invalid_params(server: RunningServer, wire: str) -> None:
    async with client(server.mcp_url, wire) as mcp:
        with pytest.raises(MCPError) as missing:
            await mcp.get_prompt("quick_summary", {"title": "only a title"})
        with pytest.raises(MCPError) as unknown:
            await mcp.get_prompt("no_such_prompt", {})
    assert missing.value.error.code == INVALID_PARAMS
    assert "Missing required arguments" in missing.value.error.message and "text" in missing.value.error.message
    assert unknown.value.error.code == INVALID_PARAMS
    assert unknown.value.error.message == "Unknown prompt: no_such_prompt"


async def test_completions_for_prompt_style_and_template_name(server: RunningServer, wire: str) -> None:
    async with client(server.mcp_url, wire) as mcp:
        styles = await mcp.complete(
            PromptReference(type="ref/prompt", name="quick_summary"), {"name": "style", "value": "f"}
        )
        every_style = await mcp.complete(
            PromptReference(type="ref/prompt", name="quick_summary"), {"name": "style", "value": ""}
        )
        names = await mcp.complete(
            ResourceTemplateReference(type="ref/resource", uri="hello://{name}"), {"name": "name", "value": "g"}
        )
        nothing = await mcp.complete(
            PromptReference(type="ref/prompt", name="quick_summary"), {"name": "title", "value": "a"}
        )
    assert styles.completion.values == ["formal"]
    assert every_style.completion.values == ["formal", "casual", "technical", "executive", "bullet-points"]
    assert names.completion.values == ["Grace"]
    assert nothing.completion.values == []
