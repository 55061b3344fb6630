"""compose.scale.yml: three mcp replicas behind HAProxy (round robin, no stickiness), one Redis. One session S talks
only to the balancer; every replica serves some of its requests (their logs say so), and a replica killed mid-way
loses nothing: every bump lands exactly once, S's subscription keeps delivering, and its id stays the same.

HAProxy runs the shipped infra/docker/haproxy.cfg with two lines changed for host networking: it listens on a
loopback port, and its three servers are the replicas' loopback ports instead of Docker DNS names.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx2
import pytest

from tests.container.conftest import ProductImage, measure
from tests.container.project import SCALE_OVERRIDE, TEST_OVERRIDE, Project, compose_project, wait_for_health
from tests.container.session_s import SessionS
from tests.container.test_compose import UPDATE_WITHIN, compose_variables, wait_healthy
from tests.support.docker import REPO, Engine
from tests.support.server import STARTUP_TIMEOUT, free_port

REPLICAS = 3
SHIPPED_CFG = REPO / "infra" / "docker" / "haproxy.cfg"
CHECKS_BEFORE, CHECKS_AFTER = 4, 4  # S's checks (each: a bump and a long_task) before and after the kill


def check_timing(cfg: str) -> tuple[float, int, int]:
    """`inter`, `fall` and `rise` of the shipped backend's health checks."""
    match = re.search(r"default-server inter (\d+)s fall (\d+) rise (\d+)", cfg)
    assert match, "haproxy.cfg: default-server inter/fall/rise not found"
    return float(match[1]), int(match[2]), int(match[3])


def loopback_cfg(listen: int, replicas: list[int]) -> str:
    cfg = SHIPPED_CFG.read_text()
    assert cfg.count("bind :8000") == 1
    cfg = cfg.replace("bind :8000", f"bind 127.0.0.1:{listen}")
    template = re.search(r"^\s*server-template .*$", cfg, re.MULTILINE)
    assert template, "haproxy.cfg: server-template line not found"
    # The header tells the test which replica answered (readiness only; what each served is read from their logs).
    servers = "    http-response set-header X-Prynai-Server %s\n"
    servers += "\n".join(f"    server mcp{n} 127.0.0.1:{port} check" for n, port in enumerate(replicas, 1))
    cfg = cfg[: template.start()] + servers + cfg[template.end() :]
    resolvers = cfg.index("resolvers docker")
    return cfg[:resolvers]  # no Docker DNS on the host's network


@pytest.fixture(params=["v2", "v1"], ids=["compose-v2", "compose-1.29"])
def project(request: pytest.FixtureRequest, engine: Engine, image: ProductImage) -> Iterator[Project]:
    cli: list[str] = request.getfixturevalue("compose_v2_cli" if request.param == "v2" else "compose_v1_cli")
    scratch = Path(tempfile.mkdtemp(prefix="prynai-scale-"))
    scratch.chmod(0o755)
    locks = scratch / "port-locks"
    locks.mkdir()
    locks.chmod(0o777)  # the replicas (uid 10001) create their lock files here
    lb_port, replica_ports = free_port(), [free_port() for _ in range(REPLICAS)]
    cfg = scratch / "haproxy.cfg"
    cfg.write_text(loopback_cfg(lb_port, replica_ports))
    cfg.chmod(0o644)
    variables = {
        **compose_variables(image, "prynai-mcp:test-compose", free_port(), free_port()),
        "PRYNAI_TEST_REPLICA_PORTS": ",".join(map(str, replica_ports)),
        "PRYNAI_TEST_PORT_LOCKS": str(locks),
        "PRYNAI_TEST_HAPROXY_CFG": str(cfg),
    }
    files = ["docker-compose.yml", "compose.scale.yml", TEST_OVERRIDE, SCALE_OVERRIDE]
    with compose_project(engine, cli, files, variables, f"scale-{request.param}") as running:
        running.variables["URL"] = f"http://127.0.0.1:{lb_port}"
        running.variables["REPLICA_URLS"] = ",".join(f"http://127.0.0.1:{port}" for port in replica_ports)
        yield running
    for path in sorted(scratch.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    scratch.rmdir()


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(trust_env=False, timeout=30) as client:
        yield client


def wait_in_rotation(url: str, servers: int, within: float) -> None:
    """Until the balancer has sent /livez to each of its `servers` (its health checks have found them up)."""
    seen: set[str] = set()
    deadline = time.monotonic() + within
    with httpx2.Client(trust_env=False, timeout=2) as client:
        while len(seen) < servers:
            assert time.monotonic() < deadline, f"only {sorted(seen)} in rotation after {within:.0f}s"
            try:
                answer = client.get(f"{url}/livez")
                if answer.status_code == 200:
                    seen.add(answer.headers["x-prynai-server"])
            except httpx2.HTTPError:
                time.sleep(0.1)


def calls_of(log: str, session_id: str) -> int:
    """How many tools/call requests of `session_id` a replica's JSON log lines record."""
    count = 0
    for line in log.splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("method") == "tools/call" and entry.get("session") == session_id:
            count += 1
    return count


def port_of(log: str) -> int:
    """The loopback port a replica's server reports it listens on."""
    match = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", log)
    assert match, log[-2000:]
    return int(match[1])


async def test_one_session_roams_across_three_replicas_and_survives_a_kill(
    project: Project, http: httpx2.AsyncClient
) -> None:
    url = project.variables["URL"]
    replica_ports = [int(u.rsplit(":", 1)[1]) for u in project.variables["REPLICA_URLS"].split(",")]
    inter, fall, rise = check_timing(SHIPPED_CFG.read_text())
    project.run("up", "-d", "--build")
    for replica in project.variables["REPLICA_URLS"].split(","):
        wait_for_health(replica, {"status": "ok", "redis": True}, STARTUP_TIMEOUT, diagnostics=project)
    # Servers that failed checks while they started are back after `rise` good checks, `inter` apart.
    wait_in_rotation(url, REPLICAS, inter * (fall + rise) + STARTUP_TIMEOUT)
    containers = project.containers("mcp")
    assert len(containers) == REPLICAS
    for container in containers:
        wait_healthy(project, container)  # the image's check, on the port each replica's launcher chose

    s = SessionS(http, [f"{url}/mcp"])
    await s.open()
    values: list[int] = []
    async with anyio.create_task_group() as background:
        await background.start(s.hold_get_stream)
        for _ in range(CHECKS_BEFORE):
            values.append(await s.check(UPDATE_WITHIN))

        served = {c: calls_of(project.container_logs(c), s.session_id) for c in containers}
        assert all(served.values()), f"tools/call of S per replica: {served}"  # no stickiness: each served some

        # The victim is the replica holding S's GET stream: the stream must move, and nothing may be lost.
        assert s.stream_server is not None
        victim_port = replica_ports[int(s.stream_server.removeprefix("mcp")) - 1]
        [victim] = [c for c in containers if port_of(project.container_logs(c)) == victim_port]
        opened = s.get_streams_opened
        project.engine.docker("kill", "--signal", "KILL", victim)
        killed = time.monotonic()
        values.append(await s.check(UPDATE_WITHIN + inter * fall))
        took = time.monotonic() - killed
        which = "1.29" if project.is_v1 else "v2"
        measure(f"scale-out {which}: SIGKILL of the replica holding S's stream to S's next call heard", f"{took:.1f} s")
        assert s.get_streams_opened > opened and s.stream_server != f"mcp{replica_ports.index(victim_port) + 1}"
        for _ in range(CHECKS_AFTER - 1):
            values.append(await s.check(UPDATE_WITHIN))
        background.cancel_scope.cancel()

    first = values[0]
    assert values == list(range(first, first + CHECKS_BEFORE + CHECKS_AFTER))  # every bump once, none lost
    survivors = [c for c in containers if c != victim]
    after = Counter({c: calls_of(project.container_logs(c), s.session_id) for c in survivors})
    assert sum(after.values()) > sum(served[c] for c in survivors)  # the survivors took the rest
