"""Both LangGraph examples, as the README runs them, against the protected HTTPS server: the agent lists the tools,
calls `add(7, 8)` and answers; the server's log names the caller; each speaks its wire; the trace reaches LangSmith
(the local receiver) with the run tree a user would see there."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from entra_standin import ClientApp, RunningStandIn

from tests.agents.conftest import (
    ANSWER,
    TOOL_CALL,
    TOOLS,
    WIRES,
    calls_by,
    client_settings,
    log_lines,
    run_example,
)
from tests.agents.proxy import recording_proxy
from tests.support.langsmith import LangSmithReceiver, running_receiver
from tests.support.server import RunningServer

RUN_LINE = re.compile(r"LANGSMITH RUN: (?P<id>[0-9a-f-]{36}) \(project (?P<project>\S+)\)")
API_KEY = "lsv2-local-test-key"


def assert_trace(receiver: LangSmithReceiver, run_id: str, project: str) -> None:
    """The run tree as LangSmith shows it: the agent graph at the root, two model calls, one `add` tool call."""
    root = receiver.run(run_id)
    assert root["name"] == "prynai-agent" and root["run_type"] == "chain"
    assert root.get("parent_run_id") is None and root.get("end_time") and root.get("error") is None
    runs = receiver.trace(run_id)
    assert {run["session_name"] for run in runs} == {project}
    models = [run for run in runs if run["run_type"] == "llm"]
    assert [run["name"] for run in models] == ["ScriptedChatModel", "ScriptedChatModel"]
    tools = [run for run in runs if run["run_type"] == "tool"]
    assert [run["name"] for run in tools] == ["add"]
    assert tools[0]["inputs"] == {"a": 7, "b": 8}
    output: dict[str, Any] = tools[0]["outputs"]["output"]
    assert [block["text"] for block in output["content"]] == ["15"]
    assert output["status"] == "success"
    assert all(run.get("end_time") for run in runs)  # every run was closed, not just opened
    assert receiver.api_keys == {API_KEY}


def assert_served(server: RunningServer, client: ClientApp, example: str) -> None:
    """The server's log: the `add` call, named by the caller's client id, on the example's wire."""
    version, session_based = WIRES[example]
    calls = calls_by(server, client.client_id)
    assert [(c["tool"], c["status"]) for c in calls if c["method"] == "tools/call"] == [("add", "ok")]
    assert {c["protocol_version"] for c in calls} == {version}
    assert {c["session"] is not None for c in calls} == {session_based}


def test_agent_calls_add_and_traces_to_langsmith(
    example: str, standin: RunningStandIn, protected: RunningServer, agent_client: ClientApp, tmp_path: Path
) -> None:
    project = f"prynai-agents-{uuid.uuid4().hex[:8]}"
    with running_receiver() as receiver, recording_proxy(protected.url, standin) as proxy:
        settings = {**client_settings(standin, agent_client, proxy.mcp_url), **receiver.client_env(project, API_KEY)}
        done = run_example(example, settings, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout[:3] == [TOOLS, TOOL_CALL, ANSWER]
    assert len(done.stdout) == 4, done.stdout
    found = RUN_LINE.fullmatch(done.stdout[3])
    assert found is not None and found["project"] == project, done.stdout
    assert_served(protected, agent_client, example)

    # On the wire: the session-based example sends Mcp-Session-Id on every request after each initialize; the
    # 2026-07-28 one never does, and names its protocol version on every request instead.
    sent = proxy.sent()
    version, session_based = WIRES[example]
    if session_based:
        assert {e.session_id is None for e in sent if e.mcp_method != "initialize"} == {False}
        assert {e.session_id for e in sent if e.mcp_method == "initialize"} == {None}
        assert "DELETE" in {e.method for e in sent}  # each session is ended, not left to expire
    else:
        assert {e.session_id for e in sent} == {None}
        assert {(e.method, e.protocol_version) for e in sent} == {("POST", version)}
    assert {e.status for e in sent} <= {200, 202}

    # Cloud LangSmith takes zstd-compressed multipart; the receiver announced it, the SDK used it.
    assert receiver.endpoints["GET /info"] == 1 and receiver.endpoints["POST /runs/multipart"] >= 1
    assert receiver.encodings == {"zstd"}
    assert_trace(receiver, found["id"], project)


def test_trace_falls_back_to_batch_ingest(
    example: str, standin: RunningStandIn, protected: RunningServer, agent_client: ClientApp, tmp_path: Path
) -> None:
    """A LangSmith without the multipart endpoint (404): the SDK sends the same runs to /runs/batch."""
    project = f"prynai-batch-{uuid.uuid4().hex[:8]}"
    with running_receiver(multipart=False) as receiver:
        settings = {
            **client_settings(standin, agent_client, protected.mcp_url),
            **receiver.client_env(project, API_KEY),
        }
        done = run_example(example, settings, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout[:3] == [TOOLS, TOOL_CALL, ANSWER]
    found = RUN_LINE.fullmatch(done.stdout[3])
    assert found is not None, done.stdout
    assert receiver.endpoints["POST /runs/batch"] >= 1
    assert_trace(receiver, found["id"], project)


def test_settings_from_a_dotenv_file(
    example: str, standin: RunningStandIn, protected: RunningServer, agent_client: ClientApp, tmp_path: Path
) -> None:
    """The user's settings only in the `.env` found upwards from the working directory (the trust of the local CA
    stays in the environment, where the README's HTTPS section puts SSL_CERT_FILE)."""
    trust = standin.tls.env()
    settings = client_settings(standin, agent_client, protected.mcp_url)
    dotenv = {name: value for name, value in settings.items() if name not in trust}
    (tmp_path / ".env").write_text("".join(f"{name}={value}\n" for name, value in dotenv.items()))
    nested = tmp_path / "agents"
    nested.mkdir()
    done = run_example(example, trust, nested)
    assert done.returncode == 0, done.stderr
    assert done.stdout == [TOOLS, TOOL_CALL, ANSWER]
    assert_served(protected, agent_client, example)


def test_without_entra_settings_connects_open(example: str, server: RunningServer, tmp_path: Path) -> None:
    """Against a server with auth off (no ENTRA_* set): no token is sent, and the log has no caller to name."""
    before = len(log_lines(server, "mcp"))
    done = run_example(example, {"PRYNAI_MCP_URL": server.mcp_url}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == [TOOLS, TOOL_CALL, ANSWER]
    new = log_lines(server, "mcp")[before:]
    assert [(c["tool"], c["client_id"]) for c in new if c["method"] == "tools/call"] == [("add", None)]
    assert {c["client_id"] for c in new} == {None}
