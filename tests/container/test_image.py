"""The image alone, as `docker run` starts it: health, the phase-0 example, non-root, read-only root, no token
minting inside, labels, and SIGTERM ending it with exit status 0 within the drain's grace.

Containers use the host's network (no bridge here) and listen on a random 127.0.0.1 port (PRYNAI_HOST/PRYNAI_PORT).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass

import anyio
import httpx2
import pytest

from tests.container.conftest import ProductImage, build_image, measure
from tests.container.project import wait_for_health
from tests.support.clients import client
from tests.support.docker import REPO, BaseImages, Engine, docker_cli
from tests.support.raw import RawSession, sse_events
from tests.support.server import STARTUP_TIMEOUT, free_port

EXAMPLES = REPO / "examples"
GRACE = 5.0  # PRYNAI_SHUTDOWN_GRACE_SECONDS for the SIGTERM test: above the 2 s task below


@dataclass
class Container:
    engine: Engine
    id: str
    url: str

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return self.engine.docker("exec", self.id, *command, check=False)

    def state(self) -> dict[str, object]:
        inspected = json.loads(self.engine.docker("inspect", self.id).stdout)[0]
        state: dict[str, object] = inspected["State"]
        return state

    def logs(self) -> str:
        done = self.engine.docker("logs", self.id, check=False)
        return done.stdout + done.stderr


@contextlib.contextmanager
def running(engine: Engine, image: str, env: dict[str, str] | None = None) -> Iterator[Container]:
    """`docker run -d` the image read-only (only /tmp writable) on a free loopback port; removed afterwards."""
    port = free_port()
    settings = {"PRYNAI_HOST": "127.0.0.1", "PRYNAI_PORT": str(port), **(env or {})}
    options = [part for key, value in settings.items() for part in ("-e", f"{key}={value}")]
    container_id = engine.docker(
        "run",
        "-d",
        "--network",
        "host",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--health-interval",
        "1s",  # the image's own command, checked more often than its 10 s so the test need not wait
        *options,
        image,
    ).stdout.strip()
    container = Container(engine, container_id, f"http://127.0.0.1:{port}")
    try:
        yield container
    finally:
        engine.docker("rm", "-f", container_id, check=False)


@pytest.fixture(scope="module")
def server(engine: Engine, image: ProductImage) -> Iterator[Container]:
    with running(engine, image.tag) as container:
        wait_for_health(container.url, {"status": "ok", "redis": None}, STARTUP_TIMEOUT)
        yield container


def test_healthz_says_no_redis(server: Container) -> None:
    wait_for_health(server.url, {"status": "ok", "redis": None}, STARTUP_TIMEOUT)


def test_smoke_example_prints_the_readme_lines(server: Container) -> None:
    env = {**os.environ, "PRYNAI_MCP_URL": f"{server.url}/mcp"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "smoke_http.py")], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "TOOLS: ['add', 'echo', 'long_task', 'summarize_via_client_llm', 'bump_counter']",
        "RESOURCES: ['prynai://status', 'prynai://counter']",
        "PROMPTS: ['quick_summary']",
        "STATUS: ok",
        "ADD RESULT: 5",
        "LONG_TASK: done",
        "SAMPLING: sampling unavailable",
    ]


async def test_status_names_the_commit_it_was_built_from(server: Container, image: ProductImage) -> None:
    async with client(f"{server.url}/mcp", "legacy") as mcp:
        text = (await mcp.read_resource("prynai://status")).contents[0].text  # type: ignore[union-attr]
    status = json.loads(text)
    assert status["build"] == image.commit
    assert status["environment"] == "local"  # PRYNAI_ENV unset: the server's default; compose sets "container"


def test_runs_as_a_fixed_non_root_user(server: Container) -> None:
    assert server.exec("id", "-u").stdout.strip() == "10001"
    assert server.exec("id", "-g").stdout.strip() == "10001"


def test_root_filesystem_is_read_only_and_tmp_writable(server: Container) -> None:
    refused = server.exec("python", "-c", "open('/app/written', 'w')")
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr
    assert server.exec("python", "-c", "open('/tmp/written', 'w').write('x')").returncode == 0


def test_the_image_holds_no_token_minting_and_no_build_tools(server: Container) -> None:
    for module in ("entra_standin", "prynai_mcp.auth.standin", "trustme"):
        imported = server.exec("python", "-c", f"import {module}")
        assert imported.returncode != 0 and "ModuleNotFoundError" in imported.stderr, (module, imported.stderr)
    absent = server.exec("sh", "-c", "command -v uv || ls /src /app/tests /app/examples /app/devtools /root/.cache/uv")
    assert absent.returncode != 0, absent.stdout


def test_health_check_reports_healthy(server: Container) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        health = server.state().get("Health")
        if isinstance(health, dict) and health.get("Status") == "healthy":
            return
        time.sleep(0.2)
    raise AssertionError(f"never healthy: {server.state().get('Health')}")


def test_labels_name_version_and_revision(engine: Engine, image: ProductImage) -> None:
    inspected = json.loads(engine.docker("image", "inspect", image.tag).stdout)[0]
    labels = inspected["Config"]["Labels"]
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert labels["org.opencontainers.image.version"] == version
    assert labels["org.opencontainers.image.revision"] == image.commit
    assert labels["org.opencontainers.image.title"] == "PrynAI MCP"
    assert labels["org.opencontainers.image.base.name"] == image.bases.python
    assert inspected["Config"]["User"] == "10001:10001"
    assert set(inspected["Config"]["ExposedPorts"]) == {"8000/tcp", "8443/tcp"}
    assert inspected["Config"]["Entrypoint"] == ["prynai-mcp"] and inspected["Config"]["Cmd"] == ["serve"]


async def test_sigterm_lets_the_running_call_finish_and_exits_zero(engine: Engine, image: ProductImage) -> None:
    with running(engine, image.tag, {"PRYNAI_SHUTDOWN_GRACE_SECONDS": str(GRACE)}) as container:
        wait_for_health(container.url, {"status": "ok", "redis": None}, STARTUP_TIMEOUT)
        # By hand: an SDK client would send more requests (e.g. tools/list) that the draining server refuses.
        async with httpx2.AsyncClient(trust_env=False, timeout=30) as http:
            session = RawSession(http, [f"{container.url}/mcp"])
            await session.open()
            call = session.call(1, "long_task", {"steps": 8, "delay_seconds": 0.25})  # runs 2 s
            answer: dict[str, object] = {}
            signalled = 0.0
            async with http.stream("POST", session.url(), json=call, headers=session.headers()) as response:
                async for event in sse_events(response):
                    if event.data and event.data.get("method") == "notifications/progress" and not signalled:
                        signalled = time.monotonic()  # the call is running: stop the container now
                        await anyio.to_thread.run_sync(lambda: engine.docker("kill", "--signal", "TERM", container.id))
                    if event.data and event.data.get("id") == 1:
                        answer = event.data
                        break
        assert signalled, "no progress before the answer"
        assert answer.get("result", {}).get("content", [{}])[0].get("text") == "done", answer  # type: ignore[attr-defined]
        status = await anyio.to_thread.run_sync(_wait_exit, engine, container.id, GRACE + 5)
        took = time.monotonic() - signalled
        measure("SIGTERM to exit, image alone, one 2 s call running", f"{took:.1f} s (exit {status})")
        assert status == 0, container.logs()[-3000:]
        assert took < GRACE + 1


def _wait_exit(engine: Engine, container: str, within: float) -> int:
    done = subprocess.run(
        [docker_cli(), "wait", container], env=engine.environment(), capture_output=True, text=True, timeout=within
    )
    return int(done.stdout.strip())


def test_builds_cold_and_cached_with_both_builders(engine: Engine, bases: BaseImages) -> None:
    """The classic builder (the image fixture and docker-compose 1.29 use it) and BuildKit (`docker compose` v2)."""
    cold = build_image(engine, bases, "prynai-mcp:test-cold", "--no-cache")
    measure("image build, classic builder, cold (--no-cache)", f"{cold:.1f} s")
    cached = build_image(engine, bases, "prynai-mcp:test-cold")
    measure("image build, classic builder, cached", f"{cached:.1f} s")
    builder = buildkit_cli(engine)
    if builder is not None:
        started = time.monotonic()
        engine.run(
            builder,
            "build",
            "--no-cache",
            "--network",
            "host",
            *bases.build_args(),
            "-f",
            "infra/docker/Dockerfile",
            "-t",
            "prynai-mcp:test-buildkit",
            ".",
            env={"DOCKER_BUILDKIT": "1"},
        )
        measure("image build, BuildKit, cold (--no-cache)", f"{time.monotonic() - started:.1f} s")
    engine.docker("rmi", "prynai-mcp:test-cold", "prynai-mcp:test-buildkit", check=False)
    assert cached < cold


def buildkit_cli(engine: Engine) -> str | None:
    """A docker client that builds with BuildKit here: one with buildx, or one from before buildx was required."""
    for candidate in dict.fromkeys([docker_cli(), "/usr/bin/docker"]):
        if not os.path.exists(candidate):
            continue
        if engine.run(candidate, "buildx", "version", check=False).returncode == 0:
            return candidate
        version = engine.run(candidate, "version", "--format", "{{.Client.Version}}", check=False).stdout.strip()
        if version and int(version.split(".")[0]) < 23:
            return candidate
    return None
