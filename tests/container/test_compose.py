"""docker-compose.yml (redis + mcp) as the README runs it, with each Compose CLI: `up -d --build`, /healthz, the
phase-1 example twice, then session S through `restart mcp`, a SIGKILL and start of mcp, `restart redis` and
`down` + `up`. Every step asserts what a client sees; the restart and kill timings are measured.

The tests' override (compose.test.yml) puts both containers on the host's network on free 127.0.0.1 ports.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx2
import pytest

from prynai_mcp.config import Settings
from tests.container.conftest import ProductImage, measure
from tests.container.project import TEST_OVERRIDE, Project, compose_project, seconds, wait_for_health
from tests.container.session_s import SessionS
from tests.support.docker import REPO, Engine
from tests.support.server import STARTUP_TIMEOUT, free_port

EXAMPLES = REPO / "examples"
DEFAULTS = Settings()
# How long a change may take to reach S's GET stream after a disruption: S reopens it after the server's retry hint,
# and a stream held by a killed server is taken over once its lease lapses.
UPDATE_WITHIN = DEFAULTS.prynai_replica_lease_seconds + DEFAULTS.prynai_sse_retry_ms / 1000 + 10


def stop_grace() -> float:
    import yaml  # type: ignore[import-untyped]  # no stubs in the dev environment

    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return seconds(compose["services"]["mcp"]["stop_grace_period"])


def compose_variables(image: ProductImage, tag: str, mcp_port: int, redis_port: int) -> dict[str, str]:
    return {
        **image.bases.compose_env(),
        "PRYNAI_IMAGE": tag,
        "GIT_COMMIT": image.commit,
        "PRYNAI_TEST_MCP_PORT": str(mcp_port),
        "PRYNAI_TEST_REDIS_PORT": str(redis_port),
    }


def phase1(url: str) -> list[str]:
    env = {**os.environ, "PRYNAI_MCP_URL": f"{url}/mcp"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "smoke_http_phase1.py")], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def phase1_lines(before: int) -> list[str]:
    return [
        "RESOURCES: ['prynai://status', 'prynai://counter']",
        f"COUNTER: {before}",
        f"COUNTER_AFTER: {before + 2}",
        "PROMPT TEXT: Write a concise, formal summary. Document title: MCP Phase 1",
        "SAMPLING RESULT: MOCK:Phase 1 adds the shared counter.",
    ]


@pytest.fixture(params=["v2", "v1"], ids=["compose-v2", "compose-1.29"])
def cli(request: pytest.FixtureRequest) -> list[str]:
    chosen: list[str] = request.getfixturevalue("compose_v2_cli" if request.param == "v2" else "compose_v1_cli")
    return chosen


@pytest.fixture
def project(engine: Engine, image: ProductImage, cli: list[str]) -> Iterator[Project]:
    mcp_port, redis_port = free_port(), free_port()
    variables = compose_variables(image, "prynai-mcp:test-compose", mcp_port, redis_port)
    label = "v1" if Path(cli[0]).name == "docker-compose" else "v2"
    with compose_project(engine, cli, ["docker-compose.yml", TEST_OVERRIDE], variables, label) as running:
        running.variables["URL"] = f"http://127.0.0.1:{mcp_port}"
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(trust_env=False, timeout=30) as client:
        yield client


def timed(project: Project, *args: str) -> float:
    started = time.monotonic()
    project.run(*args)
    return time.monotonic() - started


async def test_compose_keeps_the_counter_and_the_session_through_restarts(
    project: Project, http: httpx2.AsyncClient
) -> None:
    url = project.variables["URL"]
    which = "v1.29" if project.is_v1 else "v2"
    ready = {"status": "ok", "redis": True}
    back_within = stop_grace() + STARTUP_TIMEOUT

    started = time.monotonic()
    project.run("up", "-d", "--build")
    wait_for_health(url, ready, STARTUP_TIMEOUT, diagnostics=project)
    measure(f"compose {which}: up -d --build until /healthz ok", f"{time.monotonic() - started:.1f} s")
    assert (await http.get(f"{url}/healthz")).text == '{"status":"ok","redis":true}'

    assert phase1(url) == phase1_lines(0)
    assert phase1(url) == phase1_lines(2)

    s = SessionS(http, [f"{url}/mcp"])
    await s.open()
    async with anyio.create_task_group() as background:
        await background.start(s.hold_get_stream)
        assert await s.check(UPDATE_WITHIN) == 5
        session_id = s.session_id

        # 1. docker compose restart mcp (SIGTERM: the drain hands S's stream over and exits).
        took = await anyio.to_thread.run_sync(timed, project, "restart", "mcp")
        back = wait_for_health(url, ready, back_within, diagnostics=project)
        measure(f"compose {which}: restart mcp (command / then until ready)", f"{took:.1f} s / {back:.1f} s")
        assert await s.check(UPDATE_WITHIN) == 6
        assert phase1(url) == phase1_lines(6)  # the README's "counter persists"

        # 2. SIGKILL, as a crash, then start it again.
        opened = s.get_streams_opened
        took = await anyio.to_thread.run_sync(timed, project, "kill", "-s", "SIGKILL", "mcp")
        [container] = project.containers("mcp")
        assert project.inspect(container)["State"]["ExitCode"] == 137
        took_start = await anyio.to_thread.run_sync(timed, project, "start", "mcp")
        back = wait_for_health(url, ready, back_within, diagnostics=project)
        measure(
            f"compose {which}: kill -s SIGKILL mcp / start mcp / until ready",
            f"{took:.1f} s / {took_start:.1f} s / {back:.1f} s",
        )
        assert await s.check(UPDATE_WITHIN) == 9
        assert s.get_streams_opened > opened  # S's GET stream was cut and reopened

        # 3. docker compose restart redis: the counter comes back from the append-only file.
        took = await anyio.to_thread.run_sync(timed, project, "restart", "redis")
        back = wait_for_health(url, ready, back_within, diagnostics=project)
        measure(f"compose {which}: restart redis (command / then until ready)", f"{took:.1f} s / {back:.1f} s")
        assert await s.check(UPDATE_WITHIN) == 10

        # 4. docker compose down (the volume stays), then up again.
        took = await anyio.to_thread.run_sync(timed, project, "down")
        assert project.containers("mcp") == []  # removed, not just stopped
        took_up = await anyio.to_thread.run_sync(timed, project, "up", "-d")
        back = wait_for_health(url, ready, back_within, diagnostics=project)
        measure(f"compose {which}: down / up -d / until ready", f"{took:.1f} s / {took_up:.1f} s / {back:.1f} s")
        assert await s.check(UPDATE_WITHIN) == 11
        assert s.session_id == session_id
        background.cancel_scope.cancel()


def test_mcp_runs_as_configured(project: Project, image: ProductImage) -> None:
    project.run("up", "-d", "--build")
    wait_for_health(project.variables["URL"], {"status": "ok", "redis": True}, STARTUP_TIMEOUT, diagnostics=project)
    [container] = project.containers("mcp")
    wait_healthy(project, container)
    inspected = project.inspect(container)
    assert inspected["HostConfig"]["ReadonlyRootfs"] is True
    assert inspected["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    if not project.is_v1:  # v2 sets it on the container (a plain `docker stop` honours it); 1.29 only on its own stops
        assert inspected["Config"]["StopTimeout"] == int(stop_grace())
    env = dict(item.split("=", 1) for item in inspected["Config"]["Env"] if "=" in item)
    assert env["PRYNAI_ENV"] == "container" and env["PRYNAI_BUILD"] == image.commit
    # Host networking only: the project made no network (a bridge would have a private-range address).
    networks = project.engine.docker(
        "network", "ls", "-q", "--filter", f"label=com.docker.compose.project={project.name}"
    )
    assert networks.stdout.split() == []
    # Settings left unset stay unset in the container, so the server's own defaults apply.
    assert "AUTH_REQUIRED" not in env and "PRYNAI_SHUTDOWN_GRACE_SECONDS" not in env


def wait_healthy(project: Project, container: str) -> None:
    """The container's own HEALTHCHECK says healthy (the test override runs it every second)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        health = project.inspect(container)["State"].get("Health") or {}
        if health.get("Status") == "healthy":
            return
        time.sleep(0.2)
    raise AssertionError(f"not healthy: {project.inspect(container)['State'].get('Health')}")
