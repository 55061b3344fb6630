"""Fixtures for the container tests: the engine, the local base images, the product image, the Compose CLIs, and
the measurements (image size, build and restart times) printed at the end of the run.

Without an engine these tests skip and say why; under CI (CI=true) that is a failure instead.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NoReturn

import pytest

from tests.support.docker import (
    REPO,
    BaseImages,
    Engine,
    EngineUnavailable,
    base_images,
    compose_v1,
    compose_v2,
    docker_engine,
    image_size,
)

IMAGE = "prynai-mcp:test"
DOCKERFILE = "infra/docker/Dockerfile"
_MEASURED: dict[str, str] = {}


def measure(name: str, value: str) -> None:
    """Record a figure for the summary at the end of the run (and the report of the issue)."""
    _MEASURED[name] = value


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _MEASURED:
        terminalreporter.section("container tests")
        for name, value in _MEASURED.items():
            terminalreporter.write_line(f"{name}: {value}")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"the container tests need a Docker engine under CI: {reason}", pytrace=False)
    # Also in the closing summary, where it is seen without -rs.
    measure("NOT RUN", reason)
    pytest.skip(f"container tests not run: {reason}")


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    stack = contextlib.ExitStack()
    try:
        running = stack.enter_context(docker_engine())
    except EngineUnavailable as error:
        unavailable(str(error))
    with stack:
        yield running


@pytest.fixture(scope="session")
def bases(engine: Engine) -> BaseImages:
    started = time.monotonic()
    made = base_images(engine)
    measure("base images ready (built or found by recipe hash)", f"{time.monotonic() - started:.1f} s")
    return made


def git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "local"


@dataclass(frozen=True)
class ProductImage:
    tag: str
    commit: str
    bases: BaseImages


def build_image(engine: Engine, bases: BaseImages, tag: str, *extra: str, buildkit: bool = False) -> float:
    """Build infra/docker/Dockerfile from the repository root as a user would; seconds taken."""
    started = time.monotonic()
    engine.docker(
        "build",
        "--network",
        "host",
        *bases.build_args(),
        "--build-arg",
        f"GIT_COMMIT={git_commit()}",
        "-f",
        DOCKERFILE,
        "-t",
        tag,
        *extra,
        ".",
        env={"DOCKER_BUILDKIT": "1" if buildkit else "0"},
    )
    return time.monotonic() - started


@pytest.fixture(scope="session")
def image(engine: Engine, bases: BaseImages) -> ProductImage:
    """The product image, built with the classic builder (layers cached from earlier runs when unchanged)."""
    took = build_image(engine, bases, IMAGE)
    measure("image build, classic builder, layer cache as found", f"{took:.1f} s")
    size = image_size(engine, IMAGE)
    measure("image size", f"{size / 1e6:.0f} MB (base {bases.python})")
    return ProductImage(IMAGE, git_commit(), bases)


@pytest.fixture(scope="session")
def compose_v2_cli(engine: Engine, bases: BaseImages) -> list[str]:
    found = compose_v2(engine, bases)
    if found is None:
        unavailable("no Compose v2 (`docker compose`) here")
    return found


@pytest.fixture(scope="session")
def compose_v1_cli() -> list[str]:
    found = compose_v1()
    if found is None:
        unavailable("docker-compose 1.29 is not installed (apt-get install docker-compose)")
    return found
