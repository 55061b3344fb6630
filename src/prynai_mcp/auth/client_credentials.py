"""Getting an app-only access token for this server from Entra ID (MSAL client credentials), for clients and tools.

Used by `prynai-mcp token` and the examples; the server never imports it. Settings use the user's names:
ENTRA_TENANT_ID, ENTRA_CLIENT_ID, ENTRA_CLIENT_SECRET, SERVER_APP_ID_URI, and ENTRA_AUTHORITY for sovereign clouds or
the local stand-in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import jwt
import msal  # type: ignore[import-untyped]  # MSAL ships no type information

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
REQUIRED = ("ENTRA_TENANT_ID", "ENTRA_CLIENT_ID", "ENTRA_CLIENT_SECRET", "SERVER_APP_ID_URI")


class TokenUnavailable(Exception):
    """Entra ID (or the stand-in) gave no token; the message says why, in Entra's words."""


def missing_settings(env: Mapping[str, str] = os.environ) -> list[str]:
    return [name for name in REQUIRED if not env.get(name)]


def acquire_token(env: Mapping[str, str] = os.environ) -> str:
    """A client-credentials access token for `{SERVER_APP_ID_URI}/.default`."""
    authority = env.get("ENTRA_AUTHORITY", DEFAULT_AUTHORITY).rstrip("/")
    app = msal.ConfidentialClientApplication(
        env["ENTRA_CLIENT_ID"],
        client_credential=env["ENTRA_CLIENT_SECRET"],
        authority=f"{authority}/{env['ENTRA_TENANT_ID']}",
        # Known Microsoft hosts skip instance discovery anyway; any other host (a sovereign cloud alias, the local
        # stand-in) is taken as given instead of being looked up at login.microsoftonline.com.
        instance_discovery=False,
    )
    result = app.acquire_token_for_client(scopes=[env["SERVER_APP_ID_URI"].rstrip("/") + "/.default"])
    if "access_token" not in result:
        raise TokenUnavailable(f"no token from {authority}: {result.get('error')}: {result.get('error_description')}")
    return str(result["access_token"])


def describe(token: str) -> dict[str, Any]:
    """The token's header and claims, NOT verified: for reading `aud`, `iss`, `roles` while setting things up."""
    return {
        "header": jwt.get_unverified_header(token),
        "claims": jwt.decode(token, options={"verify_signature": False}),
    }
