"""Shared by the examples: which URL, and which protocol wire."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable

import anyio
import httpx2

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
        cause = _connect_error(error)
        if cause is None:
            raise
        url = os.environ.get("PRYNAI_MCP_URL", DEFAULT_URL) if "--url" not in sys.argv else "the --url given"
        print(f"error: cannot reach the MCP server at {url} ({cause}); is it running?", file=sys.stderr)
        raise SystemExit(2) from None


def _connect_error(error: BaseException) -> httpx2.ConnectError | None:
    if isinstance(error, httpx2.ConnectError):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            if (found := _connect_error(inner)) is not None:
                return found
    return _connect_error(error.__cause__) if error.__cause__ is not None else None
