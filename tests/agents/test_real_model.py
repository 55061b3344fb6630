"""The examples' real-model path, with no cloud: Azure OpenAI's and OpenAI's settings pointed at a scripted
chat-completions endpoint on 127.0.0.1. `langchain-openai` offers the server's MCP tools as functions, the model
asks for `add`, the MCP server runs it, and the tool's result goes back to the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from entra_standin import ClientApp, RunningStandIn

from tests.agents.chat_completions import running_chat_completions
from tests.agents.conftest import ADAPTERS, SMOKE, TOOL_CALL, TOOLS, calls_by, client_settings, run_example
from tests.support.server import RunningServer

DEPLOYMENT = "prynai-agent-test"


@pytest.mark.parametrize(("example", "provider"), [(SMOKE, "azure"), (ADAPTERS, "openai")])
def test_model_from_settings_calls_the_mcp_tool(
    example: str,
    provider: str,
    standin: RunningStandIn,
    protected: RunningServer,
    agent_client: ClientApp,
    tmp_path: Path,
) -> None:
    with running_chat_completions() as model:
        if provider == "azure":
            settings = {
                "AZURE_OPENAI_ENDPOINT": model.url,
                "AZURE_OPENAI_API_KEY": "local-test-key",
                "AZURE_OPENAI_DEPLOYMENT": DEPLOYMENT,
                "OPENAI_API_VERSION": "2024-10-21",
            }
        else:
            settings = {"OPENAI_API_KEY": "local-test-key", "OPENAI_BASE_URL": f"{model.url}/v1"}
        done = run_example(example, {**client_settings(standin, agent_client, protected.mcp_url), **settings}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == [TOOLS, TOOL_CALL, "ANSWER: 7 + 8 = 15."]

    expected_path = (
        f"/openai/deployments/{DEPLOYMENT}/chat/completions" if provider == "azure" else "/v1/chat/completions"
    )
    assert [path for path, _ in model.requests] == [expected_path, expected_path]
    offered = model.offered()
    assert sorted(offered) == ["add", "bump_counter", "echo", "long_task", "summarize_via_client_llm"]
    assert set(offered["add"]["properties"]) == {"a", "b"}
    # The second turn carries the MCP tool's result back to the model.
    tool_turn = model.requests[1][1]["messages"][-1]
    assert tool_turn["role"] == "tool" and "15" in json.dumps(tool_turn["content"])
    assert [c["tool"] for c in calls_by(protected, agent_client.client_id) if c["method"] == "tools/call"] == ["add"]
