"""summarize_via_client_llm asks the client's LLM through sampling on both wires, and degrades without it."""

from __future__ import annotations

import pytest
from mcp.client import ClientRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import CreateMessageRequestParams, CreateMessageResult, ErrorData

from prynai_mcp.sampling import mock_sampler
from tests.support.clients import client
from tests.support.server import RunningServer

TEXT = "PrynAI MCP keeps sessions alive across replicas."


async def test_mock_sampler_answers(server: RunningServer, wire: str) -> None:
    seen: list[CreateMessageRequestParams] = []

    async def recording_sampler(
        context: ClientRequestContext, params: CreateMessageRequestParams
    ) -> CreateMessageResult:
        seen.append(params)
        return await mock_sampler(context, params)

    async with client(server.mcp_url, wire, sampling_callback=recording_sampler) as mcp:
        result = await mcp.call_tool("summarize_via_client_llm", {"text": TEXT})
    assert not result.is_error
    assert result.content[0].text == f"MOCK:{TEXT}"  # type: ignore[union-attr]
    assert len(seen) == 1
    assert TEXT in seen[0].messages[0].content.text  # type: ignore[union-attr]
    assert seen[0].max_tokens == 256


async def test_without_sampling_the_answer_is_plain(server: RunningServer, wire: str) -> None:
    async with client(server.mcp_url, wire) as mcp:
        result = await mcp.call_tool("summarize_via_client_llm", {"text": TEXT})
    assert not result.is_error
    assert result.content[0].text == "sampling unavailable"  # type: ignore[union-attr]


async def test_a_client_sampler_error_reaches_the_caller(server: RunningServer, wire: str) -> None:
    async def refusing_sampler(context: ClientRequestContext, params: CreateMessageRequestParams) -> ErrorData:
        return ErrorData(code=-1, message="user declined")

    async with client(server.mcp_url, wire, sampling_callback=refusing_sampler) as mcp:
        with pytest.raises(MCPError) as refused:
            await mcp.call_tool("summarize_via_client_llm", {"text": TEXT})
    assert "user declined" in refused.value.error.message
