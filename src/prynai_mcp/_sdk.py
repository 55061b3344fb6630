"""Every touch of the MCP SDK's private internals, in one place.

Checked against `mcp` 2.3.0 (pinned `2.3.*` in pyproject.toml). Each function names the private attribute it reads;
if an SDK release moves one, the tests that exercise the feature fail here first.
"""

from __future__ import annotations

from typing import Any

from mcp.server._otel import OpenTelemetryMiddleware
from mcp.server.lowlevel.server import Server
from mcp.server.mcpserver import MCPServer
from mcp.shared._stream_protocols import WriteStream

# The protocol of the streams a transport writes its outgoing messages to (`mcp.shared._stream_protocols`): what a
# stream wrapper such as `prynai_mcp.sessions.request_ids` must implement.
__all__ = ["WriteStream", "is_sdk_span_middleware", "lowlevel", "validate_tool_arguments"]


def lowlevel(mcp: MCPServer[Any]) -> Server[Any]:
    """The low-level server behind `MCPServer` (`_lowlevel_server`): the only way to add methods it does not serve,
    such as the legacy `resources/subscribe` (DESIGN.md section 3)."""
    return mcp._lowlevel_server  # pyright: ignore[reportPrivateUsage]


def validate_tool_arguments(mcp: MCPServer[Any], name: str, arguments: dict[str, Any]) -> None:
    """Validate `arguments` for the tool `name` as MCPServer will (`_tool_manager`, `fn_metadata`), raising pydantic's
    `ValidationError`; nothing for an unknown tool (MCPServer reports that itself)."""
    tool = mcp._tool_manager.get_tool(name)  # pyright: ignore[reportPrivateUsage]
    if tool is not None:
        tool.fn_metadata.validate_arguments(arguments)


def is_sdk_span_middleware(layer: object) -> bool:
    """Whether `layer` of `MCPServer.middleware` is the SDK's built-in OpenTelemetry span middleware
    (`mcp.server._otel.OpenTelemetryMiddleware`), which our telemetry replaces."""
    return isinstance(layer, OpenTelemetryMiddleware)
