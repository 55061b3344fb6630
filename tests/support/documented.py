"""What the README and docs promise a client, spelled out as numbers and texts, not imported from the product:
renumbering a code in the product must fail these tests until the documentation says the same."""

from __future__ import annotations

# JSON-RPC error codes (README, "HTTP endpoints and errors", and "Authentication").
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
HEADER_MISMATCH = -32020  # 2026-07-28: Mcp-Method / Mcp-Name disagree with the body
TOOL_FORBIDDEN = -32003  # a tool call without its PRYNAI_TOOL_ROLES permission
STORE_UNAVAILABLE = -32053  # Redis unreachable
INTERRUPTED = -32054  # the replica running the request died
SHUTTING_DOWN = -32055  # a new request reaching a replica that is shutting down

SESSION_NOT_FOUND = "Session not found"
LIMIT_EXCEEDED = -32056  # a PRYNAI_MAX_* bound was reached (data.limit names it)
