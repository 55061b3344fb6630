"""The /mcp route over our session manager, with the SDK's bearer-token pieces when auth is on.

The SDK's `streamable_http_app()` builds the same thing around its own session manager; composing the public pieces
here lets /mcp run on `RoamingSessionManager` while keeping the SDK's 401/403 behaviour and RFC 9728 document.
"""

from __future__ import annotations

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from mcp.server.auth.settings import AuthSettings
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.routing import Route


def mcp_routes(
    path: str,
    session_manager: StreamableHTTPSessionManager,
    auth: AuthSettings | None = None,
    verifier: TokenVerifier | None = None,
) -> tuple[list[Route], list[Middleware]]:
    """Routes and middleware serving MCP at `path`, protected when `auth` and `verifier` are given."""
    endpoint = StreamableHTTPASGIApp(session_manager)
    if auth is None or verifier is None:
        return [Route(path, endpoint=endpoint)], []

    resource_url = auth.resource_server_url
    middleware = [
        Middleware(
            AuthenticationMiddleware,
            backend=BearerAuthBackend(
                verifier, resource_server_url=resource_url if auth.validate_token_resource else None
            ),
        ),
        Middleware(AuthContextMiddleware),
    ]
    metadata_url = build_resource_metadata_url(resource_url) if resource_url else None
    routes = [Route(path, endpoint=RequireAuthMiddleware(endpoint, auth.required_scopes or [], metadata_url))]
    if resource_url:
        routes.extend(
            create_protected_resource_routes(
                resource_url=resource_url,
                authorization_servers=[auth.issuer_url],
                scopes_supported=auth.required_scopes,
            )
        )
    return routes, middleware
