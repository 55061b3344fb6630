#!/usr/bin/env bash
# The whole check, as CI runs it: lint, types, then every test (the conformance suite included).
# Usage: scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
uv sync --frozen --quiet
echo "== ruff"
uv run --frozen ruff check src tests examples devtools bench infra scripts
uv run --frozen ruff format --check src tests examples devtools bench infra scripts
echo "== mypy"
uv run --frozen mypy src devtools/entra_standin/src tests
echo "== pytest"
uv run --frozen pytest "$@"
