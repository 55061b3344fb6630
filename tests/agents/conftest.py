"""The LangGraph examples against a protected HTTPS server and the Entra stand-in, each run as the README says:
`uv run python examples/langgraph_smoke.py` (the project's environment) and `uv run examples/langgraph_adapters.py`
(the script's own, which uv resolves once and caches)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from entra_standin import ClientApp, RunningStandIn, running_standin

from tests.auth.protected import protected_server
from tests.support.server import RunningServer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SMOKE = "langgraph_smoke.py"
ADAPTERS = "langgraph_adapters.py"
TOOLS = "TOOLS: ['add', 'echo', 'long_task', 'summarize_via_client_llm', 'bump_counter']"
TOOL_CALL = 'TOOL CALL: add {"a": 7, "b": 8} -> 15'
ANSWER = "ANSWER: 7 + 8 = 15."
# What each example speaks: the wire's protocol version in the server's log, and whether it holds a session.
WIRES = {SMOKE: ("2026-07-28", False), ADAPTERS: ("2025-11-25", True)}
# Settings of the user's that must not leak from the test's own environment into an example.
USER_PREFIXES = ("PRYNAI_", "ENTRA_", "SERVER_APP_", "LANGSMITH_", "LANGCHAIN_", "AZURE_OPENAI_", "OPENAI_")
UV = os.environ.get("UV") or shutil.which("uv") or "uv"
TIMEOUT = 300  # the adapters' first run resolves and installs their environment


def command(example: str) -> list[str]:
    """The README's command for `example` (with its absolute path: the tests run it from an empty directory)."""
    if example == ADAPTERS:
        return [UV, "run", str(EXAMPLES / example)]
    return [UV, "run", "python", str(EXAMPLES / example)]


def example_env(example: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(USER_PREFIXES) and k != "VIRTUAL_ENV"}
    # The tests run each example from an empty directory (no .env of the developer's around), so tell uv what the
    # README's working directory (the repository) would: the project for the smoke, whose shared environment a
    # test must never re-sync; an interpreter for the script (the repository's .python-version says 3.12).
    if example == ADAPTERS:
        env["UV_PYTHON"] = _base_python()
    else:
        env.update(UV_PROJECT=str(ROOT), UV_NO_SYNC="1")
    return env


def _base_python() -> str:
    found = shutil.which(f"python{sys.version_info.major}.{sys.version_info.minor}", path=f"{sys.base_prefix}/bin")
    return found or sys.executable


@dataclass
class Outcome:
    returncode: int
    stdout: list[str]
    stderr: str

    @property
    def errors(self) -> list[str]:
        """The example's own error lines (uv may print its install progress before them)."""
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def run_example(example: str, settings: Mapping[str, str], cwd: Path, *args: str) -> Outcome:
    done = subprocess.run(
        [*command(example), *args],
        env={**example_env(example), **settings},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    return Outcome(done.returncode, done.stdout.splitlines(), done.stderr)


def client_settings(standin: RunningStandIn, client: ClientApp, url: str) -> dict[str, str]:
    """The settings of the user's documents (as `.standin/standin.env` gives them) for `client` and `url`."""
    return {**standin.client_env(client), "PRYNAI_MCP_URL": url}


def log_lines(server: RunningServer, event: str) -> list[dict[str, Any]]:
    lines = []
    for text in server.log().splitlines():
        if text.startswith("{"):
            entry = json.loads(text)
            if entry.get("event") == event:
                lines.append(entry)
    return lines


def calls_by(server: RunningServer, client_id: str) -> list[dict[str, Any]]:
    """The server's `mcp` log lines for the requests this client made."""
    return [line for line in log_lines(server, "mcp") if line.get("client_id") == client_id]


@pytest.fixture(scope="session")
def standin() -> Iterator[RunningStandIn]:
    with running_standin() as running:
        yield running


@pytest.fixture(scope="session")
def protected(standin: RunningStandIn) -> Iterator[RunningServer]:
    """Auth on, HTTPS, app role Mcp.Invoke required (tests/auth/protected.py)."""
    with protected_server(standin) as running:
        yield running


@pytest.fixture
def agent_client(standin: RunningStandIn) -> ClientApp:
    """A client app of its own (so the server's log lines of this test are told apart by its id)."""
    return standin.authority.add_client(roles=["Mcp.Invoke"])


@pytest.fixture(params=[SMOKE, ADAPTERS])
def example(request: pytest.FixtureRequest) -> str:
    return str(request.param)
