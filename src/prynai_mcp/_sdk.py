"""Every touch of the MCP SDK's private internals, in one place.

Checked against `mcp` 2.3.0 (pinned `2.3.*` in pyproject.toml). Each function names the private attribute it reads;
if an SDK release moves one, the tests that exercise the feature fail here first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.lowlevel.server import Server
from mcp.server.mcpserver import MCPServer
from mcp.server.session import ServerSession


def lowlevel(mcp: MCPServer[Any]) -> Server[Any]:
    """The low-level server behind `MCPServer` (`_lowlevel_server`): the only way to add methods it does not serve,
    such as the legacy `resources/subscribe` (DESIGN.md section 3)."""
    return mcp._lowlevel_server  # pyright: ignore[reportPrivateUsage]


def on_session_close(session: ServerSession, callback: Callable[[], Awaitable[None]]) -> None:
    """Run `callback` when the connection behind `session` closes (DELETE, idle expiry, shutdown).

    `ServerSession._connection` is private; its `exit_stack` is the SDK's documented per-connection teardown.
    """
    connection = session._connection  # pyright: ignore[reportPrivateUsage]
    connection.exit_stack.push_async_callback(callback)
