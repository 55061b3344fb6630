"""JSON-RPC error codes of this server's own, in the implementation-defined server-error range (-32000..-32099).

Clear of the codes the SDK and the specification use there. Each is documented in the README's error table.
"""

from __future__ import annotations

STORE_UNAVAILABLE = -32053  # the shared store (Redis) is unreachable: retry after `Retry-After`
INTERRUPTED = -32054  # the replica running the request died; it may be retried
SHUTTING_DOWN = -32055  # the replica is shutting down; nothing was done
LIMIT_EXCEEDED = -32056  # a bound of PRYNAI_MAX_* was reached; `data.limit` names the setting, `data.max` its value
