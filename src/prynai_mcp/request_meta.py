"""Bounds on what a request's `_meta` may carry into what the server keeps.

A `progressToken` is copied into every progress notification of its request, and with it into the session's event
log (kept for Last-Event-ID, in Redis with replicas): a 1 MB token turned one request into a hundred megabytes of
stored events. So a token is at most `MAX_PROGRESS_TOKEN_BYTES` as JSON, and `_meta` as a whole at most
`MAX_META_BYTES` (it holds the 2026-07-28 client capabilities too); larger ones are refused with -32602, on both
wires, before the handler runs and before anything is stored.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

MAX_PROGRESS_TOKEN_BYTES = 256
MAX_META_BYTES = 16 * 1024


async def bounded_meta(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """SDK server middleware: refuse a request whose `_meta` is larger than the server keeps."""
    meta = (ctx.params or {}).get("_meta")
    if isinstance(meta, dict):
        if "progressToken" in meta and _size(meta["progressToken"]) > MAX_PROGRESS_TOKEN_BYTES:
            raise MCPError(
                INVALID_PARAMS, f"_meta.progressToken is larger than {MAX_PROGRESS_TOKEN_BYTES} bytes (as JSON)"
            )
        if _size(meta) > MAX_META_BYTES:
            raise MCPError(INVALID_PARAMS, f"_meta is larger than {MAX_META_BYTES} bytes (as JSON)")
    return await call_next(ctx)


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), default=str).encode())
