"""The stand-in's HTTP surface, at Entra's paths:

- `GET  /{tenant}/v2.0/.well-known/openid-configuration`  OIDC discovery (what MSAL and the verifier read)
- `GET  /{tenant}/discovery/v2.0/keys`                     JWKS
- `GET  /{tenant}/oauth2/v2.0/authorize`                   authorization code + PKCE: signs the demo user in at once
                                                           and redirects (no login page; see `delegated.py`)
- `POST /{tenant}/oauth2/v2.0/token`                       client credentials (secret in the form or HTTP Basic),
                                                           authorization_code and refresh_token (public clients)
- `POST /_standin/rotate[?retire=1]`, `DELETE /_standin/keys/{kid}`, `GET /_standin/stats`: test and demo controls

`{tenant}` is the tenant GUID or the home tenant's domain name, as with Entra.
"""

from __future__ import annotations

import base64
import binascii

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from entra_standin.authority import StandInAuthority
from entra_standin.delegated import Redirect
from entra_standin.errors import entra_error

NO_STORE = {"Cache-Control": "no-store"}


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(value).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return client_id, secret


def standin_app(authority: StandInAuthority) -> Starlette:
    def tenant_or_404(request: Request) -> str | Response:
        tenant_id = authority.resolve_tenant(request.path_params["tenant"])
        if tenant_id is None:
            status, body = entra_error(
                400, "invalid_tenant", 90002, f"Tenant '{request.path_params['tenant']}' not found."
            )
            return JSONResponse(body, status_code=status)
        return tenant_id

    def unavailable() -> Response:
        return JSONResponse({"error": "temporarily_unavailable"}, status_code=503)

    async def discovery(request: Request) -> Response:
        if not authority.record("discovery"):
            return unavailable()
        tenant_id = tenant_or_404(request)
        if isinstance(tenant_id, Response):
            return tenant_id
        return JSONResponse(authority.discovery(tenant_id))

    async def keys(request: Request) -> Response:
        if not authority.record("jwks"):
            return unavailable()
        tenant_id = tenant_or_404(request)
        if isinstance(tenant_id, Response):
            return tenant_id
        return JSONResponse(authority.jwks(tenant_id))

    async def authorize(request: Request) -> Response:
        authority.record("authorize")
        outcome = authority.authorize(request.path_params["tenant"], dict(request.query_params))
        if isinstance(outcome, Redirect):
            return RedirectResponse(outcome.location, status_code=302, headers=NO_STORE)
        return JSONResponse(outcome.body, status_code=outcome.status, headers=NO_STORE)

    async def token(request: Request) -> Response:
        authority.record("token")
        form = await request.form()
        fields = {name: value for name, value in form.items() if isinstance(value, str)}
        status, body = authority.issue(request.path_params["tenant"], fields, _basic_credentials(request))
        return JSONResponse(body, status_code=status, headers=NO_STORE)

    async def rotate(request: Request) -> Response:
        kid = authority.rotate(retire_previous=request.query_params.get("retire") in ("1", "true"))
        return JSONResponse({"kid": kid, "keys": authority.kids})

    async def remove_key(request: Request) -> Response:
        try:
            authority.remove_key(request.path_params["kid"])
        except KeyError:
            return JSONResponse({"error": "no such key"}, status_code=404)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse({"keys": authority.kids})

    async def stats(request: Request) -> Response:
        return JSONResponse({"requests": authority.counts(), "keys": authority.kids})

    return Starlette(
        routes=[
            Route("/{tenant}/v2.0/.well-known/openid-configuration", discovery, methods=["GET"]),
            Route("/{tenant}/discovery/v2.0/keys", keys, methods=["GET"]),
            Route("/{tenant}/oauth2/v2.0/authorize", authorize, methods=["GET"]),
            Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
            Route("/_standin/rotate", rotate, methods=["POST"]),
            Route("/_standin/keys/{kid}", remove_key, methods=["DELETE"]),
            Route("/_standin/stats", stats, methods=["GET"]),
        ]
    )
