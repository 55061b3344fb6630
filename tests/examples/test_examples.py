"""The examples print exactly what the README promises, on both wires; the OAuth ones against the Entra stand-in
and a protected server, one command each, as the README runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from entra_standin import RunningStandIn

from tests.support.server import RunningServer, running_server

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WIRE_FLAGS = {"legacy": "legacy", "modern": "modern"}
TOOLS = "TOOLS: ['add', 'echo', 'long_task', 'summarize_via_client_llm', 'bump_counter']"


@pytest.fixture
def fresh_server() -> Iterator[RunningServer]:
    """A server of its own, so the counter starts at 0 as the README shows."""
    with running_server() as running:
        yield running


def run_example(name: str, server: RunningServer, *args: str) -> list[str]:
    env = {**os.environ, "PRYNAI_MCP_URL": server.mcp_url}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_smoke_http(fresh_server: RunningServer, wire: str) -> None:
    assert run_example("smoke_http.py", fresh_server, "--wire", WIRE_FLAGS[wire]) == [
        "TOOLS: ['add', 'echo', 'long_task', 'summarize_via_client_llm', 'bump_counter']",
        "RESOURCES: ['prynai://status', 'prynai://counter']",
        "PROMPTS: ['quick_summary']",
        "STATUS: ok",
        "ADD RESULT: 5",
        "LONG_TASK: done",
        "SAMPLING: sampling unavailable",
    ]


def test_smoke_http_phase1(fresh_server: RunningServer, wire: str) -> None:
    first = run_example("smoke_http_phase1.py", fresh_server, "--wire", WIRE_FLAGS[wire])
    assert first == [
        "RESOURCES: ['prynai://status', 'prynai://counter']",
        "COUNTER: 0",
        "COUNTER_AFTER: 2",
        "PROMPT TEXT: Write a concise, formal summary. Document title: MCP Phase 1",
        "SAMPLING RESULT: MOCK:Phase 1 adds the shared counter.",
    ]
    # The counter is shared state: a second run continues from where the first left it.
    second = run_example("smoke_http_phase1.py", fresh_server, "--wire", WIRE_FLAGS[wire], "--no-sampler")
    assert second[1:3] == ["COUNTER: 2", "COUNTER_AFTER: 4"]
    assert second[-1] == "SAMPLING RESULT: sampling unavailable"


def run_oauth_example(name: str, standin: RunningStandIn, server: RunningServer, cwd: Path, *args: str) -> list[str]:
    """Run with the settings the stand-in's standin.env gives (and no .env around: `cwd` is empty)."""
    env = {**os.environ, **standin.client_env(), "PRYNAI_MCP_URL": server.mcp_url}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_oauth_interactive(standin: RunningStandIn, entra_server: RunningServer, tmp_path: Path, wire: str) -> None:
    sign_ins = standin.authority.count("authorize")
    lines = run_oauth_example(
        "oauth_interactive.py", standin, entra_server, tmp_path, "--no-browser", "--show-refresh", "--wire", wire
    )
    assert lines == [TOOLS, "ADD RESULT: 15", "STATUS: ok", "REFRESHED: yes"]
    assert standin.authority.count("authorize") == sign_ins + 1


def test_oauth_interactive_token_cache_signs_in_once(
    standin: RunningStandIn, entra_server: RunningServer, tmp_path: Path
) -> None:
    cache = tmp_path / "tokens.json"
    sign_ins = standin.authority.count("authorize")
    first = run_oauth_example(
        "oauth_interactive.py", standin, entra_server, tmp_path, "--no-browser", "--token-cache", str(cache)
    )
    assert first == [TOOLS, "ADD RESULT: 15", "STATUS: ok"]
    assert cache.stat().st_mode & 0o077 == 0  # a refresh token: owner only
    refreshes = standin.authority.count("grant:refresh_token")
    second = run_oauth_example(
        "oauth_interactive.py",
        standin,
        entra_server,
        tmp_path,
        "--no-browser",
        "--show-refresh",
        "--token-cache",
        str(cache),
    )
    assert second == [TOOLS, "ADD RESULT: 15", "STATUS: ok", "REFRESHED: yes"]
    assert standin.authority.count("authorize") == sign_ins + 1  # the second run used the cache
    assert standin.authority.count("grant:refresh_token") == refreshes + 1  # at the authority, not at the MCP server


def test_oauth_interactive_without_a_cache_writes_nothing(
    standin: RunningStandIn, entra_server: RunningServer, tmp_path: Path
) -> None:
    run_oauth_example("oauth_interactive.py", standin, entra_server, tmp_path, "--no-browser")
    assert list(tmp_path.iterdir()) == []


def test_oauth_cc_sdk(standin: RunningStandIn, entra_server: RunningServer, tmp_path: Path, wire: str) -> None:
    grants = standin.authority.count("grant:client_credentials")
    lines = run_oauth_example("oauth_cc_sdk.py", standin, entra_server, tmp_path, "--wire", wire)
    assert lines == [TOOLS, "ADD RESULT: 15", "STATUS: ok"]
    assert standin.authority.count("grant:client_credentials") == grants + 1
