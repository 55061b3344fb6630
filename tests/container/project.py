"""Compose projects under test: the product's compose files plus the tests' host-network override, run with a
Compose CLI against the test engine, and the waits the tests share.

A `Project` is one compose project (its own name, so its containers and volume are its own). Its CLI is Compose v2
(`docker compose`) or docker-compose 1.29. 1.29 refuses published ports on a host-network container (docker-py
checks it; v2 and the engine ignore them), so for 1.29 the project runs the files' merged configuration, as
`docker-compose config` prints it, with only the `ports` of host-network services left out.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import yaml  # type: ignore[import-untyped]  # no stubs in the dev environment

from tests.support.docker import Engine

TEST_OVERRIDE = "tests/container/compose.test.yml"
SCALE_OVERRIDE = "tests/container/compose.test-scale.yml"
# The product's own settings in the caller's shell must not leak into a test project (bare keys pass them through).
_LEAKY_PREFIXES = ("PRYNAI_", "ENTRA_", "REDIS_", "AUTH_", "CORS_")
_LEAKY_NAMES = {"SSL_CERTFILE", "SSL_KEYFILE", "GIT_COMMIT", "PYTHON_IMAGE", "REDIS_IMAGE", "LB_IMAGE"}


def clean_environment(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_LEAKY_PREFIXES) and k not in _LEAKY_NAMES}
    env.update(extra)
    return env


@dataclass
class Project:
    engine: Engine
    cli: list[str]
    files: list[str]
    name: str
    variables: dict[str, str]
    scratch: Path
    env_file: Path | None = None  # what stands for the user's .env; None: an empty one
    resolved: list[str] = field(default_factory=list)

    @property
    def is_v1(self) -> bool:
        return Path(self.cli[0]).name == "docker-compose"

    def run(
        self, *args: str, check: bool = True, timeout: float = 600, files: Sequence[str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        chosen = list(files) if files is not None else (self.resolved or self.files)
        options = [part for file in chosen for part in ("-f", file)]
        # Never the developer's own .env beside docker-compose.yml: it must not change the test.
        env_file = self.env_file or self.scratch / "empty.env"
        env_file.touch()
        return self.engine.run(
            *self.cli,
            "--env-file",
            str(env_file),
            "-p",
            self.name,
            *options,
            *args,
            env=clean_environment(self.variables),
            check=check,
            timeout=timeout,
        )

    def prepare(self) -> None:
        """For docker-compose 1.29: write the merged configuration without host-network ports and use that."""
        if not self.is_v1:
            return
        merged: dict[str, Any] = yaml.safe_load(self.run("config", files=self.files).stdout)
        for service in merged["services"].values():
            if service.get("network_mode") == "host":
                service.pop("ports", None)
        path = self.scratch / "compose.resolved.yml"
        path.write_text(yaml.safe_dump(merged, sort_keys=False))
        self.resolved = [str(path)]

    def config(self) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load(self.run("config", files=self.files).stdout)
        return loaded

    def containers(self, service: str) -> list[str]:
        return self.run("ps", "-a", "-q", service).stdout.split()

    def logs(self, service: str | None = None) -> str:
        args = ["logs", "--no-color"] + ([service] if service else [])
        done = self.run(*args, check=False)
        return done.stdout + done.stderr

    def container_logs(self, container: str) -> str:
        done = self.engine.docker("logs", container, check=False)
        return done.stdout + done.stderr

    def inspect(self, container: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = json.loads(self.engine.docker("inspect", container).stdout)
        return found[0]


@contextlib.contextmanager
def compose_project(
    engine: Engine,
    cli: list[str],
    files: Sequence[str],
    variables: Mapping[str, str],
    label: str,
    env_file: Path | None = None,
) -> Iterator[Project]:
    """A project named after `label` and this process; brought down with its volumes, whatever the test did."""
    scratch = Path(tempfile.mkdtemp(prefix=f"prynai-compose-{label}-"))
    name = f"prynai-test-{label}-{os.getpid()}"
    project = Project(engine, cli, [*files], name, dict(variables), scratch, env_file)
    try:
        project.prepare()
        yield project
    finally:
        project.run("down", "--volumes", "--remove-orphans", "--timeout", "5", check=False)
        with contextlib.suppress(OSError):
            for path in sorted(scratch.rglob("*"), reverse=True):
                path.unlink() if not path.is_dir() else path.rmdir()
            scratch.rmdir()


def wait_for_health(
    url: str,
    expected: Mapping[str, object],
    within: float,
    *,
    verify: object = True,
    diagnostics: Project | None = None,
) -> float:
    """Poll `url`/healthz until its JSON equals `expected`; return the seconds it took. Fails after `within`."""
    started = time.monotonic()
    last: str = "no answer"
    with httpx2.Client(trust_env=False, timeout=2.0, verify=verify) as client:  # type: ignore[arg-type]
        while time.monotonic() - started < within:
            try:
                answer = client.get(f"{url}/healthz")
                last = f"{answer.status_code} {answer.text}"
                if answer.status_code == 200 and answer.json() == dict(expected):
                    return time.monotonic() - started
            except httpx2.HTTPError as error:
                last = repr(error)
            time.sleep(0.1)
    logs = diagnostics.logs() if diagnostics is not None else ""
    raise AssertionError(f"{url}/healthz was not {dict(expected)} within {within:.0f}s (last: {last})\n{logs[-4000:]}")


def seconds(duration: str) -> float:
    """A compose duration (`25s`, `1m30s`, `500ms`) in seconds."""
    total, number = 0.0, ""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    index = 0
    while index < len(duration):
        char = duration[index]
        if char.isdigit() or char == ".":
            number += char
            index += 1
            continue
        unit = duration[index : index + 2] if duration[index : index + 2] in units else char
        total += float(number) * units[unit]
        number, index = "", index + len(unit)
    return total + (float(number) if number else 0.0)
