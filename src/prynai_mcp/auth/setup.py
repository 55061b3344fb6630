"""From `Settings` to the pieces the app installs: verifier + AuthSettings, the gate, the per-tool check.

`EntraAuth.from_settings()` gathers all of them for `create_app()` when `AUTH_REQUIRED=true`; `build_auth()` is its
SDK-facing half. Both fail fast on a configuration that could never accept a token (no audience, a multi-tenant
alias, an http authority) rather than start a server that refuses every request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from mcp.server.auth.routes import build_resource_metadata_url
from mcp.server.auth.settings import AuthSettings
from pydantic import AnyHttpUrl
from starlette.middleware import Middleware

from prynai_mcp.auth.gate import BearerGate
from prynai_mcp.auth.keys import SigningKeys
from prynai_mcp.auth.policy import EntraPolicy
from prynai_mcp.auth.tool_roles import ToolRoles, parse_tool_roles
from prynai_mcp.auth.verifier import EntraTokenVerifier
from prynai_mcp.config import Settings

logger = logging.getLogger(__name__)

_WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]", "")


def _setting(settings: Settings, name: str, default: Any) -> Any:
    # Settings proposed with this package (PRYNAI_TOOL_ROLES, PRYNAI_JWKS_REFETCH_SECONDS); read defensively
    # until config.py declares them.
    return getattr(settings, name, default)


def public_mcp_url(settings: Settings) -> str:
    """The /mcp URL clients use: PRYNAI_PUBLIC_URL, else derived from the listening address."""
    if settings.prynai_public_url:
        return settings.prynai_public_url.rstrip("/")
    host = settings.prynai_host
    if host in _WILDCARD_HOSTS:
        logger.warning(
            "PRYNAI_PUBLIC_URL is not set and the server listens on all addresses: the RFC 9728 document will "
            "name 127.0.0.1; set PRYNAI_PUBLIC_URL to the address clients use",
            extra={"event": "auth_public_url_guessed"},
        )
        host = "127.0.0.1"
    scheme = "https" if settings.tls_enabled else "http"
    return f"{scheme}://{host}:{settings.port}/mcp"


def build_policy(settings: Settings) -> EntraPolicy:
    return EntraPolicy.create(
        authority=settings.entra_authority,
        tenant=settings.entra_tenant_id.strip(),
        audiences=settings.entra_audiences,
        required_scopes=settings.entra_required_scopes,
        required_roles=settings.entra_required_app_roles,
        accept_v1=settings.entra_accept_v1_tokens,
    )


def build_auth(settings: Settings) -> tuple[EntraTokenVerifier, AuthSettings]:
    """The SDK's `token_verifier` and `auth` for `MCPServer(...)`. Raises ValueError on unusable configuration."""
    policy = build_policy(settings)
    # Trust for the authority is the default store, which honours SSL_CERT_FILE (how the stand-in's CA is added).
    keys = SigningKeys(
        policy.authority, policy.tenant, refetch_interval=_setting(settings, "prynai_jwks_refetch_seconds", 60.0)
    )
    auth = AuthSettings(
        issuer_url=AnyHttpUrl(policy.issuer_url),
        resource_server_url=AnyHttpUrl(public_mcp_url(settings)),
        required_scopes=policy.required_scope_uris or None,
        # Entra v2 tokens carry no RFC 8707 resource; the verifier checks `aud` against ENTRA_AUDIENCES itself.
        validate_token_resource=False,
    )
    return EntraTokenVerifier(policy, keys), auth


def gate_middleware(verifier: EntraTokenVerifier, auth: AuthSettings, path: str = "/mcp") -> Middleware:
    """The `BearerGate` for the app's middleware list, just before the SDK's own auth middleware."""
    metadata_url = build_resource_metadata_url(auth.resource_server_url) if auth.resource_server_url else None
    return Middleware(BearerGate, verifier=verifier, resource_metadata_url=metadata_url, path=path)


def tool_roles_middleware(settings: Settings) -> ToolRoles | None:
    """The per-tool permission check for `MCPServer(middleware=[...])`, or None when PRYNAI_TOOL_ROLES is empty."""
    entries = _setting(settings, "prynai_tool_roles", [])
    if isinstance(entries, str):
        entries = [part for part in entries.split(",") if part.strip()]
    requirements = parse_tool_roles(entries)
    return ToolRoles(requirements) if requirements else None


@dataclass
class EntraAuth:
    """Everything `create_app()` installs for Entra protection, and the verifier's start/stop for the lifespan."""

    verifier: EntraTokenVerifier
    settings: AuthSettings
    edge: list[Middleware]  # the app's middleware list, just before the SDK's own (`sdk_app.user_middleware`)
    server_middleware: list[Any] = field(default_factory=list)  # `MCPServer(middleware=[...])`, after mcp_log

    @classmethod
    def from_settings(cls, settings: Settings, path: str = "/mcp") -> EntraAuth:
        verifier, auth = build_auth(settings)
        tool_roles = tool_roles_middleware(settings)
        return cls(
            verifier=verifier,
            settings=auth,
            edge=[gate_middleware(verifier, auth, path)],
            server_middleware=[tool_roles] if tool_roles is not None else [],
        )

    async def start(self) -> None:
        await self.verifier.start()

    async def aclose(self) -> None:
        await self.verifier.aclose()
