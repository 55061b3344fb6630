"""Microsoft Entra ID protection for /mcp: token verification, the 401/403 gate, per-tool permissions.

Wiring (see `prynai_mcp.app`): `EntraAuth.from_settings(settings)` holds the SDK's `token_verifier` and
`AuthSettings` (`build_auth`), the `BearerGate` for the app's middleware list (just before the SDK's auth
middleware), the per-tool permission check for `MCPServer(middleware=[...])`, and start/stop for the lifespan.
"""

from prynai_mcp.auth.gate import BearerGate
from prynai_mcp.auth.policy import EntraPolicy, Missing
from prynai_mcp.auth.reasons import AuthorityUnavailable, Reason, TokenRejected
from prynai_mcp.auth.setup import EntraAuth, build_auth, gate_middleware, public_mcp_url, tool_roles_middleware
from prynai_mcp.auth.tool_roles import ToolRoles, parse_tool_roles
from prynai_mcp.auth.verifier import EntraTokenVerifier, Verified

__all__ = [
    "AuthorityUnavailable",
    "BearerGate",
    "EntraAuth",
    "EntraPolicy",
    "EntraTokenVerifier",
    "Missing",
    "Reason",
    "TokenRejected",
    "ToolRoles",
    "Verified",
    "build_auth",
    "gate_middleware",
    "parse_tool_roles",
    "public_mcp_url",
    "tool_roles_middleware",
]
