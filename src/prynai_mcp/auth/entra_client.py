"""What the MCP SDK's OAuth clients must change to get tokens from Entra ID v2 (checked against mcp 2.3.0).

Used by the examples and tests (the server never imports it). Two mismatches, both on the wire to Entra:

1. The SDK sends the MCP server's URL as the RFC 8707 `resource` on the authorization request and on every token
   request (authorization code, refresh, client credentials). Entra v2 names the resource in `scope`
   (`api://<app>/Mcp.Invoke`) and refuses a `resource` that is not that same app: `invalid_target`, AADSTS9010010
   (modelcontextprotocol/python-sdk#2578, microsoft/vscode#321249). So the parameter is dropped: from the
   authorization URL by the redirect handler (`without_resource`), from token requests by `EntraTokenRequests`.
2. Client credentials take exactly `<App ID URI>/.default` (AADSTS1002012 otherwise), but the SDK's
   client-credentials provider asks for the scopes the server's metadata advertises, which are delegated scopes
   for users. `EntraTokenRequests` puts the configured `.default` scope in their place.

Both are rewrites of requests on their way to the authority, not of the SDK: when the SDK learns Entra's ways,
drop this module and nothing else changes.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx2

TOKEN_PATH_SUFFIX = "/oauth2/v2.0/token"
FORM = "application/x-www-form-urlencoded"


def without_resource(url: str) -> str:
    """An authorization URL without its `resource` query parameter."""
    parts = urlsplit(url)
    query = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if name != "resource"]
    return urlunsplit(parts._replace(query=urlencode(query)))


class EntraTokenRequests(httpx2.AsyncBaseTransport):
    """An httpx2 transport that sends the SDK's token requests to `authority` the way Entra v2 accepts them.

    Requests to anything else (the MCP server) pass through untouched.
    """

    def __init__(
        self,
        authority: str,
        *,
        client_credentials_scope: str | None = None,
        inner: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        """`authority`: ENTRA_AUTHORITY (e.g. https://login.microsoftonline.com); `client_credentials_scope`:
        the one scope a client-credentials request asks for (`<App ID URI>/.default`); `inner`: the transport
        that really sends (default: httpx2's, which trusts what SSL_CERT_FILE names)."""
        self._authority = httpx2.URL(authority)
        self._client_credentials_scope = client_credentials_scope
        self._inner = inner or httpx2.AsyncHTTPTransport()

    def _is_token_request(self, request: httpx2.Request) -> bool:
        url, authority = request.url, self._authority
        return (
            request.method == "POST"
            and (url.scheme, url.host, url.port) == (authority.scheme, authority.host, authority.port)
            and url.path.endswith(TOKEN_PATH_SUFFIX)
            and request.headers.get("content-type", "").split(";")[0].strip() == FORM
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self._is_token_request(request):
            request = await self._rewritten(request)
        return await self._inner.handle_async_request(request)

    async def _rewritten(self, request: httpx2.Request) -> httpx2.Request:
        form = [(name, value) for name, value in parse_qsl((await request.aread()).decode()) if name != "resource"]
        if self._client_credentials_scope and ("grant_type", "client_credentials") in form:
            form = [(name, value) for name, value in form if name != "scope"]
            form.append(("scope", self._client_credentials_scope))
        headers = [(name, value) for name, value in request.headers.multi_items() if name.lower() != "content-length"]
        return httpx2.Request(
            request.method, request.url, headers=headers, content=urlencode(form), extensions=request.extensions
        )

    async def aclose(self) -> None:
        await self._inner.aclose()
