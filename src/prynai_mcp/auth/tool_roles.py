"""Per-tool permission requirements, e.g. `PRYNAI_TOOL_ROLES=bump_counter=Mcp.Write`.

A tool listed here may only be called by a token that carries every permission named for it: an app role in
`roles`, or, for a delegated token, a scope of that name in `scp` (Entra lets an API expose a permission both ways).
The check is an SDK `ServerMiddleware` on `tools/call`, so it holds on both wires; a refused call gets a JSON-RPC
error (-32003) naming the missing permission, and the tool never runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError

from prynai_mcp.auth.policy import granted, roles_of

FORBIDDEN = -32003  # implementation-defined server error range; -32000/-32001 are taken by the SDK


def parse_tool_roles(entries: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """`["bump_counter=Mcp.Write", "admin_tool=Mcp.Admin+Mcp.Write"]` -> {tool: permissions}.

    `+` joins permissions that are all required; naming a tool twice adds to its list.
    """
    requirements: dict[str, list[str]] = {}
    for entry in entries:
        tool, sep, names = entry.partition("=")
        permissions = [name.strip() for name in names.split("+") if name.strip()]
        if not sep or not tool.strip() or not permissions:
            raise ValueError(f"PRYNAI_TOOL_ROLES entry {entry!r} is not tool=Permission[+Permission...]")
        requirements.setdefault(tool.strip(), []).extend(permissions)
    return {tool: tuple(dict.fromkeys(names)) for tool, names in requirements.items()}


def _caller_token(ctx: ServerRequestContext[Any, Any]) -> AccessToken | None:
    # The HTTP request that carried this message holds the authenticated user; the context variable is the
    # fallback for transports that do not pass the request along.
    request = ctx.request
    user = getattr(request, "scope", {}).get("user") if request is not None else None
    if isinstance(user, AuthenticatedUser):
        return user.access_token
    return get_access_token()


class ToolRoles:
    """`ServerMiddleware`: refuse `tools/call` for a tool whose required permissions the caller lacks."""

    def __init__(self, requirements: Mapping[str, Iterable[str]]) -> None:
        self.requirements = {tool: tuple(names) for tool, names in requirements.items()}

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/call" and ctx.request_id is not None:
            tool = (ctx.params or {}).get("name")
            required = self.requirements.get(tool) if isinstance(tool, str) else None
            if required:
                self._authorize(tool, required, _caller_token(ctx))
        return await call_next(ctx)

    @staticmethod
    def _authorize(tool: Any, required: tuple[str, ...], token: AccessToken | None) -> None:
        claims = (token.claims or {}) if token is not None else {}
        held = set(roles_of(claims)) | set(granted(claims))
        missing = [name for name in required if name not in held]
        if missing:
            raise MCPError(
                FORBIDDEN,
                f"Forbidden: tool {tool!r} requires {', '.join(missing)} (an app role or delegated scope)",
                {"tool": tool, "missing": missing},
            )
