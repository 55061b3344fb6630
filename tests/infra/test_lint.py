"""infra/checks is Python outside src/ and tests/, which scripts/test.sh lints and type-checks: hold it to the same
bar here (ruff with the project's settings, mypy strict)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
CHECKS = ["infra/checks", "tests/infra/az_standin.py"]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=REPOSITORY, capture_output=True, text=True, timeout=120)


def test_ruff() -> None:
    for command in (("ruff", "check", *CHECKS), ("ruff", "format", "--check", *CHECKS)):
        done = run(*command)
        assert done.returncode == 0, done.stdout + done.stderr


def test_mypy() -> None:
    done = run("mypy", "--explicit-package-bases", *CHECKS)
    assert done.returncode == 0, done.stdout + done.stderr
