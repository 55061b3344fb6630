"""The examples print exactly what the README promises, on both wires."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import RunningServer, running_server

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WIRE_FLAGS = {"legacy": "legacy", "modern": "modern"}


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
