"""summarize_via_client_llm asks the client's LLM through sampling on both wires, and degrades without it."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.client import ClientRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import CreateMessageRequestParams, CreateMessageResult, ErrorData

from prynai_mcp.sampling import mock_sampler
from tests.support.clients import client, text_of
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


async def refusing_sampler(context: ClientRequestContext, params: CreateMessageRequestParams) -> ErrorData:
    """What a client answers when its user says no (the code and text several clients use)."""
    return ErrorData(code=-1, message="User rejected sampling request")


async def crashing_sampler(context: ClientRequestContext, params: CreateMessageRequestParams) -> CreateMessageResult:
    raise RuntimeError("the model backend is down")


def assert_refusal_logged_once(server: RunningServer, since: int) -> None:
    """One INFO line says sampling was refused, nothing is logged as an error, and the prompt stays out of the log."""
    records = server.log_records(since)
    refused = [r for r in records if r.get("event") == "sampling_refused"]
    assert len(refused) == 1, records
    assert refused[0]["level"] == "info"
    assert not [r for r in records if r.get("level") in ("error", "critical") or "raw" in r], records
    log = server.log(since)
    assert "Traceback" not in log
    assert TEXT not in log


@pytest.mark.parametrize(
    ("sampler", "reason"),
    [(refusing_sampler, "User rejected sampling request"), (crashing_sampler, "the model backend is down")],
    ids=["refused", "crashed"],
)
async def test_a_failed_sample_answers_sampling_unavailable_with_the_reason(
    server: RunningServer, sampler: Any, reason: str
) -> None:
    """Session-based wire: the client declared sampling, then its callback declined or raised; the tool still answers,
    with the client's own words, instead of failing the whole call as a JSON-RPC error."""
    since = server.log_size()
    async with client(server.mcp_url, "legacy", sampling_callback=sampler) as mcp:
        result = await mcp.call_tool("summarize_via_client_llm", {"text": TEXT})
    assert not result.is_error
    assert text_of(result) == f"sampling unavailable: {reason}"
    assert_refusal_logged_once(server, since)


async def test_a_long_refusal_is_cut_to_one_short_line(server: RunningServer) -> None:
    async def chatty_sampler(context: ClientRequestContext, params: CreateMessageRequestParams) -> ErrorData:
        return ErrorData(code=-1, message="No.\n" + "because " * 100)

    async with client(server.mcp_url, "legacy", sampling_callback=chatty_sampler) as mcp:
        answer = text_of(await mcp.call_tool("summarize_via_client_llm", {"text": TEXT}))
    assert answer.startswith("sampling unavailable: No. because because")
    assert "\n" not in answer
    assert len(answer) <= len("sampling unavailable: ") + 200


async def test_on_the_stateless_wire_a_refusal_ends_in_the_client(server: RunningServer) -> None:
    """2026-07-28: the server asks with an InputRequiredResult and a refusing client has nothing to retry with
    (inputResponses carry results only), so the SDK client ends the call itself with its callback's error; the
    server hears nothing and logs nothing. Kept so that an SDK or protocol change that starts sending refusals back
    shows up here, where the server would have to answer it as on the session-based wire."""
    since = server.log_size()
    async with client(server.mcp_url, "modern", sampling_callback=refusing_sampler) as mcp:
        with pytest.raises(MCPError) as refused:
            await mcp.call_tool("summarize_via_client_llm", {"text": TEXT})
    assert refused.value.error.code == -1
    assert refused.value.error.message == "User rejected sampling request"
    records = server.log_records(since)
    calls = [r for r in records if r.get("event") == "mcp" and r.get("method") == "tools/call"]
    assert [r["status"] for r in calls] == ["ok"]  # the one round that asked; no retry came
    assert not [r for r in records if r.get("level") in ("error", "critical") or "raw" in r], records
