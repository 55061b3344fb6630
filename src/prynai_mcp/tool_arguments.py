"""Invalid tool arguments are answered with the field and the problem, and nothing else.

MCPServer answers a call whose arguments fail validation with pydantic's whole report: its internal model name
(`addArguments`), the rejected input echoed back and a link to pydantic's documentation. This server middleware
validates `tools/call` arguments first, the same way, and answers such a call with a tool error that reads
`Invalid arguments for tool add: a: Input should be a valid integer, unable to parse string as an integer`.
Entry: `ArgumentErrors`, bound to the server once it is built.
"""

from __future__ import annotations

from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent
from pydantic import ValidationError

from prynai_mcp import _sdk


def describe(tool: str, error: ValidationError) -> str:
    """One clause per invalid field: where it is and what is wrong, never the value sent."""
    problems = [
        f"{'.'.join(str(part) for part in problem['loc']) or 'arguments'}: {problem['msg']}"
        for problem in error.errors(include_url=False, include_input=False, include_context=False)
    ]
    return f"Invalid arguments for tool {tool}: " + "; ".join(problems)


class ArgumentErrors:
    """Server middleware; `bind(mcp)` once the MCPServer exists (it is given its middleware at construction)."""

    def __init__(self) -> None:
        self._mcp: MCPServer[Any] | None = None

    def bind(self, mcp: MCPServer[Any]) -> None:
        self._mcp = mcp

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/call" and self._mcp is not None and isinstance(ctx.params, dict):
            name, arguments = ctx.params.get("name"), ctx.params.get("arguments") or {}
            if isinstance(name, str) and isinstance(arguments, dict):
                try:
                    _sdk.validate_tool_arguments(self._mcp, name, arguments)
                except ValidationError as error:
                    return CallToolResult(content=[TextContent(type="text", text=describe(name, error))], is_error=True)
        return await call_next(ctx)
