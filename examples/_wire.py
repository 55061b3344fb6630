"""Shared by the examples: which URL, and which protocol wire."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable, Sequence

import anyio
import httpx2
from dotenv import find_dotenv, load_dotenv

DEFAULT_URL = "http://127.0.0.1:8000/mcp"
MODES = {"legacy": "legacy", "modern": "auto"}


def parse_args(description: str, extra: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    parser = extra or argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--wire",
        choices=sorted(MODES),
        default="modern",
        help="modern: 2026-07-28 (what the current SDK speaks); legacy: the session-based 2025-11-25 wire",
    )
    parser.add_argument("--url", default=os.environ.get("PRYNAI_MCP_URL", DEFAULT_URL), help="MCP endpoint")
    return parser.parse_args()


def run(main: Callable[[], Awaitable[None]]) -> None:
    """Run `main`; a server that cannot be reached is one clear line, not a traceback."""
    try:
        anyio.run(main)
    except BaseException as error:
        cause = find_error(error, (httpx2.ConnectError,))
        if cause is None:
            raise
        url = os.environ.get("PRYNAI_MCP_URL", DEFAULT_URL) if "--url" not in sys.argv else "the --url given"
        print(f"error: cannot reach the MCP server at {url} ({cause}); is it running?", file=sys.stderr)
        raise SystemExit(2) from None


def load_env(parser: argparse.ArgumentParser, env_file: str | None, required: Sequence[str]) -> None:
    """Load `env_file` (default: the .env found from the current directory up) under the environment, which wins;
    stop with one line naming what is still missing."""
    load_dotenv(env_file or find_dotenv(usecwd=True), override=False)
    missing = [name for name in required if not os.environ.get(name)]
    if missing:
        parser.error(f"set {', '.join(missing)} (environment or .env)")


def find_error(error: BaseException, kinds: tuple[type[BaseException], ...]) -> BaseException | None:
    """The first error of `kinds` in `error`, in the exception groups the SDK's task groups raise, or its causes."""
    if isinstance(error, kinds):
        return error
    inner = list(error.exceptions) if isinstance(error, BaseExceptionGroup) else []
    inner += [error.__cause__] if error.__cause__ is not None else []
    return next((found for e in inner if (found := find_error(e, kinds)) is not None), None)
