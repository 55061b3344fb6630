"""Give client mistakes the JSON-RPC error they deserve.

MCPServer reports an unknown prompt or missing prompt arguments as a bare `ValueError`; the SDK then answers
code 0 on the session-based wire and an opaque -32603 "Internal server error" on 2026-07-28. This middleware turns
them into -32602 (invalid params) with the SDK's own message, the same on both wires.
"""

from __future__ import annotations

from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

_VALUE_ERRORS_ARE_INPUT = frozenset({"prompts/get"})


async def invalid_params(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    try:
        return await call_next(ctx)
    except MCPError:
        raise
    except ValueError as error:
        if ctx.method not in _VALUE_ERRORS_ARE_INPUT:
            raise
        raise MCPError(INVALID_PARAMS, str(error)) from error
