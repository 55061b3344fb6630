"""The rules of the stand-in's delegated sign-in (registrations, scopes, redirect URIs, PKCE), for `grants.py`,
which runs the v2 authorization endpoint (code + PKCE) and the `authorization_code` and `refresh_token` grants for
public clients. Entry is via `StandInAuthority.authorize()` and `StandInAuthority.issue()`.

No login page: the authorization endpoint signs the authority's demo user in and consents at once (no person is here
to click), then redirects to the client with a code. Otherwise it keeps to Entra v2:
- public clients ("Mobile and desktop applications") with registered redirect URIs, where the port of a loopback
  URI is ignored; a public client presenting a secret is refused (AADSTS700025);
- PKCE with S256. Entra also takes `plain`; the stand-in refuses it, so a client that downgrades is caught here;
- codes are single-use (AADSTS54005), short-lived (AADSTS70008), bound to client, redirect URI and verifier;
- a refresh token only when `offline_access` was asked for, and a new one with every redemption (the old one stays
  valid until it expires, as Entra's do);
- scopes name the server app (`api://<app>/Mcp.Invoke`, `api://<app>/.default`), and `resource` is accepted only
  when it names that same app: anything else is `invalid_target` AADSTS9010010, which Entra enforces (reported in
  modelcontextprotocol/python-sdk#2578 and microsoft/vscode#321249);
- tokens are v2 user tokens (see `StandInAuthority.user_claims`).
The stand-in knows no Microsoft Graph: a request naming no server-app scope is refused, where Entra would issue a
Graph token that the MCP server then refuses as meant for another audience.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from entra_standin.errors import entra_error

if TYPE_CHECKING:
    from entra_standin.authority import ResourceApp

OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"  # where Entra sends a scope that names no resource
CODE_LIFETIME = 600.0  # Entra: authorization codes expire after about ten minutes
REFRESH_TOKEN_LIFETIME = 90 * 24 * 3600  # Entra's default for clients other than single-page apps
CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of a SHA-256 digest, unpadded


@dataclass(frozen=True)
class DemoUser:
    """The one user the stand-in signs in, with the claims Entra puts in her tokens."""

    object_id: str
    username: str  # preferred_username (the UPN)
    name: str = "Stand-in User"


@dataclass(frozen=True)
class PublicClientApp:
    """A public client registration: no secret, its redirect URIs, its delegated permissions on the server app."""

    client_id: str
    tenant_id: str
    redirect_uris: tuple[str, ...]
    permissions: tuple[str, ...] = ("Mcp.Invoke",)  # consented delegated scopes: what `<app>/.default` yields


@dataclass(frozen=True)
class Grant:
    """What the user consented to, for one client: carried by a code, then by refresh tokens."""

    client_id: str
    tenant_id: str
    scopes: tuple[str, ...]  # short names on the server app
    offline: bool


@dataclass(frozen=True)
class PendingCode:
    grant: Grant
    redirect_uri: str
    code_challenge: str
    expires_at: float


@dataclass(frozen=True)
class Redirect:
    """The authorization endpoint's answer: send the browser here (with a code, or with an error)."""

    location: str


@dataclass(frozen=True)
class ErrorPage:
    """The authorization endpoint's answer when the client or its redirect URI cannot be trusted."""

    status: int
    body: dict[str, Any]


class Refused(Exception):
    """A request Entra would refuse, with its answer."""

    def __init__(self, status: int, error: str, code: int, message: str) -> None:
        super().__init__(message)
        self.reply = entra_error(status, error, code, message)


def missing(name: str) -> Refused:
    return Refused(400, "invalid_request", 900144, f"The request body must contain the following parameter: '{name}'.")


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", errors="replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def redirect_uri_registered(registered: Iterable[str], requested: str) -> bool:
    """Entra's matching: exact, except that the port of an http loopback URI is ignored."""
    return any(_same_redirect(candidate, requested) for candidate in registered)


def _same_redirect(registered: str, requested: str) -> bool:
    a, b = urlsplit(registered), urlsplit(requested)
    try:
        ports = (a.port, b.port)
    except ValueError:  # not a number
        return False
    if (a.scheme.lower(), a.hostname) != (b.scheme.lower(), b.hostname):
        return False
    loopback = a.scheme.lower() == "http" and a.hostname in ("localhost", "127.0.0.1", "::1")
    if not loopback and ports[0] != ports[1]:
        return False
    return (a.path or "/") == (b.path or "/") and a.query == b.query


def requested_scopes(app: ResourceApp, client: PublicClientApp, requested: str) -> tuple[tuple[str, ...], bool]:
    """The server-app scopes (short names) a `scope` parameter asks for, and whether it asks for offline_access."""
    items = requested.split()
    named = [scope for scope in items if scope not in OIDC_SCOPES]
    if not named:
        raise Refused(
            400,
            "invalid_scope",
            70011,
            "The provided value for the input parameter 'scope' isn't valid: it names no scope of the server app "
            "(the stand-in has no Microsoft Graph; ask for api://<app>/<scope>).",
        )
    names: list[str] = []
    for scope in named:
        prefix, _, name = scope.rpartition("/")
        if not prefix:  # Entra reads a bare name as a Microsoft Graph scope
            raise Refused(
                400,
                "invalid_scope",
                650053,
                f"The application '{client.client_id}' asked for scope '{name}' that doesn't exist on the resource "
                f"'{GRAPH_APP_ID}'.",
            )
        if prefix not in (app.app_id, app.app_id_uri):
            raise Refused(
                400, "invalid_resource", 500011, f"The resource principal named {prefix} was not found in the tenant."
            )
        if name == ".default":
            if len(named) > 1:
                raise Refused(400, "invalid_scope", 70011, "The scope '.default' cannot be combined with other scopes.")
            names.extend(client.permissions)
        elif name in app.scopes:
            names.append(name)
        else:
            raise Refused(
                400,
                "invalid_scope",
                650053,
                f"The application '{client.client_id}' asked for scope '{name}' that doesn't exist on the resource "
                f"'{app.app_id}'.",
            )
    if not names:
        raise Refused(
            400,
            "invalid_grant",
            65001,
            f"The user or administrator has not consented to use the application with ID '{client.client_id}'.",
        )
    return tuple(dict.fromkeys(names)), "offline_access" in items


def check_resource(app: ResourceApp, resource: str | None) -> None:
    # Entra v2 names the resource in `scope`; an RFC 8707 `resource` must be that same app.
    if resource is not None and resource not in (app.app_id, app.app_id_uri):
        raise Refused(
            400,
            "invalid_target",
            9010010,
            "The resource parameter provided in the request doesn't match with the requested scopes.",
        )
