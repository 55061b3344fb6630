"""A setting that cannot work stops `prynai-mcp serve` before it starts (README, Settings): exit status 2 and one line
on stderr naming the setting, and nothing that says the server is up. Real subprocesses, as an operator runs them."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from tests.support.server import clean_env

REPO = Path(__file__).resolve().parents[2]
SERVE = ["uv", "run", "--frozen", "--quiet", "prynai-mcp", "serve"]
STARTED = ("PrynAI MCP ready", "Uvicorn running", "Application startup complete")


def run(command: Sequence[str], env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # A server that did start would run until the timeout: that is a failure too (TimeoutExpired).
    return subprocess.run(command, env=clean_env(env), cwd=REPO, capture_output=True, text=True, timeout=60)


def refused(result: subprocess.CompletedProcess[str], setting: str) -> str:
    """The one line the operator gets, after checking the exit status and that nothing started."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    for said in STARTED:
        assert said not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {setting}: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


def test_a_port_out_of_range_on_the_command_line() -> None:
    line = refused(run([*SERVE, "--host", "127.0.0.1", "--port", "70000"]), "PRYNAI_PORT")
    assert "65535" in line


def test_a_port_out_of_range_in_the_environment() -> None:
    line = refused(run(SERVE, {"PRYNAI_HOST": "127.0.0.1", "PRYNAI_PORT": "70000"}), "PRYNAI_PORT")
    assert "65535" in line


def test_a_busy_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = refused(run([*SERVE, "--host", "127.0.0.1", "--port", str(port)]), "PRYNAI_PORT")
    assert line == f"error: PRYNAI_PORT: {port} is already in use on 127.0.0.1"


def test_a_host_that_is_no_name() -> None:
    """Refused before any lookup: a name with an empty label cannot even be encoded."""
    line = refused(run(SERVE, {"PRYNAI_HOST": "no..such"}), "PRYNAI_HOST")
    assert "'no..such'" in line


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1) for a network namespace")
def test_a_host_that_does_not_resolve() -> None:
    """Looked up in a network namespace of its own, so the lookup never leaves the machine (this machine's resolver
    is not on loopback): the name does not resolve there, as an unknown name does not anywhere."""
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a network namespace here: {probe.stderr.decode().strip()}")
    result = run(["unshare", "--net", *SERVE], {"PRYNAI_HOST": "no.such.host.invalid"})
    assert "'no.such.host.invalid' is not an address this machine can listen on" in refused(result, "PRYNAI_HOST")


def test_python_m_server_help_shows_the_usage() -> None:
    result = run(["uv", "run", "--frozen", "--quiet", "python", "-m", "prynai_mcp.server", "--help"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: prynai-mcp serve")
    assert "--port" in result.stdout and "--host" in result.stdout
    for said in STARTED:
        assert said not in result.stdout + result.stderr
