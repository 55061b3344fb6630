"""The official MCP conformance suite against the real server (fixture on), on both protocol wires.

`scripts/conformance.sh` installs the pinned suite and Node 22 on first use (cached outside the repository), runs
the frozen 2025-11-25 and 2026-07-28 requirement sets and fails on any scored failure; there is no
expected-failures file, so every scored scenario must pass.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis import running_redis
from tests.support.server import running_server

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "conformance.sh"
REQUIREMENT_SETS = ("2025-11-25", "2026-07-28")


@contextlib.contextmanager
def backend_env(backend: str) -> Iterator[dict[str, str]]:
    if backend == "memory":
        yield {}
        return
    with running_redis() as redis:
        yield {"REDIS_URL": redis.url()}


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_every_scored_scenario_passes_on_both_wires(backend: str) -> None:
    with backend_env(backend) as env, running_server(env, args=["--conformance"]) as server:
        run = subprocess.run(
            ["bash", str(SCRIPT), server.mcp_url],
            capture_output=True,
            text=True,
            timeout=280,
            check=False,
        )
        server_log = server.log()

    output = "\n".join(
        ["--- stdout ---", run.stdout, "--- stderr ---", run.stderr, "--- server log (tail) ---", server_log[-6000:]]
    )
    assert run.returncode == 0, output
    for requirement_set in REQUIREMENT_SETS:
        assert f"conformance {requirement_set}: PASS" in run.stdout, output
