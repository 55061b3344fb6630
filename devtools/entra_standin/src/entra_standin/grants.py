"""The stand-in's delegated grants in flight: codes from the authorization endpoint, redeemed once at the token
endpoint, and the refresh tokens they lead to. Rules (what Entra accepts) are in `delegated.py`.

Private module: entry is via `StandInAuthority.authorize()` and `StandInAuthority.issue()`.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from entra_standin.delegated import (
    CHALLENGE,
    ErrorPage,
    Grant,
    PendingCode,
    PublicClientApp,
    Redirect,
    Refused,
    check_resource,
    missing,
    redirect_uri_registered,
    requested_scopes,
    s256,
)
from entra_standin.errors import ErrorReply, entra_error, error_redirect, with_query

if TYPE_CHECKING:
    from entra_standin.authority import StandInAuthority


class DelegatedGrants:
    """Codes and refresh tokens in flight. Thread-safe: the HTTP server runs in its own thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._codes: dict[str, PendingCode] = {}
        self._redeemed: set[str] = set()
        self._refresh_tokens: dict[str, tuple[Grant, float]] = {}

    # --- the authorization endpoint ----------------------------------------------------------------------

    def authorize(
        self, authority: StandInAuthority, tenant_segment: str, params: Mapping[str, str]
    ) -> Redirect | ErrorPage:
        """GET `/{tenant}/oauth2/v2.0/authorize`: sign the demo user in and redirect with a code, or refuse."""
        tenant_id = authority.resolve_tenant(tenant_segment)
        if tenant_id is None:
            return ErrorPage(*entra_error(400, "invalid_tenant", 90002, f"Tenant '{tenant_segment}' not found."))
        client_id = params.get("client_id", "")
        client = authority.public_client(client_id)
        if client is None or client.tenant_id != tenant_id:
            return ErrorPage(
                *entra_error(
                    400,
                    "unauthorized_client",
                    700016,
                    f"Application with identifier '{client_id}' was not found in the directory '{tenant_id}'.",
                )
            )
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri_registered(client.redirect_uris, redirect_uri):
            return ErrorPage(
                *entra_error(
                    400,
                    "invalid_request",
                    50011,
                    f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs "
                    f"configured for the application '{client_id}'.",
                )
            )
        state = params.get("state")
        try:
            pending = self._consent(authority, client, tenant_id, redirect_uri, params)
        except Refused as refused:
            return Redirect(error_redirect(redirect_uri, state, refused.reply))
        code = secrets.token_urlsafe(48)
        with self._lock:
            now = time.time()
            for expired in [c for c, p in self._codes.items() if p.expires_at <= now]:
                del self._codes[expired]
            self._codes[code] = pending
        reply = {"code": code, "session_state": str(uuid.uuid4())}
        if state is not None:
            reply["state"] = state
        return Redirect(with_query(redirect_uri, reply))

    def _consent(
        self,
        authority: StandInAuthority,
        client: PublicClientApp,
        tenant_id: str,
        redirect_uri: str,
        params: Mapping[str, str],
    ) -> PendingCode:
        response_type = params.get("response_type", "")
        if response_type != "code":
            raise Refused(
                400,
                "unsupported_response_type",
                700054,
                f"response_type '{response_type}' is not enabled for the application (the stand-in issues codes).",
            )
        challenge = params.get("code_challenge")
        if not challenge:  # Entra insists only for single-page apps; the stand-in for every client
            raise missing("code_challenge")
        if params.get("code_challenge_method") != "S256":
            raise Refused(
                400,
                "invalid_request",
                70011,  # the stand-in's choice: Entra would accept `plain`
                "The provided value for the input parameter 'code_challenge_method' isn't valid: S256 only.",
            )
        if not CHALLENGE.fullmatch(challenge):
            raise Refused(
                400,
                "invalid_request",
                70011,
                "The provided value for the input parameter 'code_challenge' isn't valid.",
            )
        scopes, offline = requested_scopes(authority.resource, client, params.get("scope", ""))
        check_resource(authority.resource, params.get("resource"))
        grant = Grant(client.client_id, tenant_id, scopes, offline)
        return PendingCode(grant, redirect_uri, challenge, time.time() + authority.code_lifetime)

    # --- the token endpoint ------------------------------------------------------------------------------

    def redeem(
        self,
        authority: StandInAuthority,
        tenant_id: str,
        form: Mapping[str, str],
        basic: tuple[str, str] | None,
    ) -> ErrorReply:
        """POST `/{tenant}/oauth2/v2.0/token` with `authorization_code` or `refresh_token`: (status, JSON body)."""
        try:
            client = self._public_client(authority, tenant_id, form, basic)
            check_resource(authority.resource, form.get("resource"))
            if form.get("grant_type") == "authorization_code":
                grant, scopes = self._redeem_code(authority, client, form)
            else:
                grant, scopes = self._redeem_refresh_token(authority, client, form)
        except Refused as refused:
            return refused.reply
        return 200, self._tokens(authority, grant, scopes)

    def _public_client(
        self, authority: StandInAuthority, tenant_id: str, form: Mapping[str, str], basic: tuple[str, str] | None
    ) -> PublicClientApp:
        client_id = form.get("client_id") or (basic[0] if basic else "")
        if not client_id:
            raise missing("client_id")
        client = authority.public_client(client_id)
        if client is None or client.tenant_id != tenant_id:
            raise Refused(
                400, "unauthorized_client", 700016, f"Application with identifier '{client_id}' was not found."
            )
        if basic or form.get("client_secret") or form.get("client_assertion"):
            raise Refused(
                401,
                "invalid_client",
                700025,
                "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
            )
        return client

    def _redeem_code(
        self, authority: StandInAuthority, client: PublicClientApp, form: Mapping[str, str]
    ) -> tuple[Grant, tuple[str, ...]]:
        code = form.get("code")
        if not code:
            raise missing("code")
        with self._lock:
            redeemed = code in self._redeemed
            pending = self._codes.get(code)
        if redeemed:
            raise Refused(
                400,
                "invalid_grant",
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an "
                "existing refresh token.",
            )
        if pending is None or pending.grant.client_id != client.client_id:
            raise Refused(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
        if pending.expires_at <= time.time():
            raise Refused(
                400,
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to inactivity. Send a new "
                "interactive authorization request for this user and resource.",
            )
        redirect_uri = form.get("redirect_uri")
        if not redirect_uri:
            raise missing("redirect_uri")
        if redirect_uri != pending.redirect_uri:
            raise Refused(
                400,
                "invalid_grant",
                500112,
                f"The reply address '{redirect_uri}' does not match the reply address '{pending.redirect_uri}' "
                "provided when requesting Authorization code.",
            )
        verifier = form.get("code_verifier")
        if not verifier:
            raise missing("code_verifier")
        if not secrets.compare_digest(s256(verifier), pending.code_challenge):
            raise Refused(
                400,
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            )
        scopes = self._narrowed(authority, client, pending.grant, form)
        with self._lock:
            if code in self._redeemed:  # a concurrent redemption won
                raise Refused(400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed.")
            self._redeemed.add(code)
            self._codes.pop(code, None)
        return pending.grant, scopes

    def _redeem_refresh_token(
        self, authority: StandInAuthority, client: PublicClientApp, form: Mapping[str, str]
    ) -> tuple[Grant, tuple[str, ...]]:
        token = form.get("refresh_token")
        if not token:
            raise missing("refresh_token")
        with self._lock:
            entry = self._refresh_tokens.get(token)
        if entry is None or entry[0].client_id != client.client_id:
            raise Refused(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
        grant, expires_at = entry
        if expires_at <= time.time():
            raise Refused(
                400,
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to inactivity. Send a new "
                "interactive authorization request for this user and resource.",
            )
        return grant, self._narrowed(authority, client, grant, form)

    def _narrowed(
        self, authority: StandInAuthority, client: PublicClientApp, grant: Grant, form: Mapping[str, str]
    ) -> tuple[str, ...]:
        """The scopes for this access token: the grant's, or the subset the token request names."""
        if not form.get("scope"):
            return grant.scopes
        scopes, _ = requested_scopes(authority.resource, client, form["scope"])
        if not set(scopes) <= set(grant.scopes):
            raise Refused(
                400,
                "invalid_grant",
                65001,
                f"The user or administrator has not consented to use the application with ID '{client.client_id}'. "
                "Send an interactive authorization request for this user and resource.",
            )
        return scopes

    def _tokens(self, authority: StandInAuthority, grant: Grant, scopes: tuple[str, ...]) -> dict[str, Any]:
        lifetime = authority.user_token_lifetime
        claims = authority.user_claims(grant.client_id, " ".join(scopes), tenant_id=grant.tenant_id, lifetime=lifetime)
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(f"{authority.resource.app_id_uri}/{name}" for name in scopes),
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": authority.sign(claims),
        }
        if grant.offline:
            refresh_token = secrets.token_urlsafe(64)
            with self._lock:
                self._refresh_tokens[refresh_token] = (grant, time.time() + authority.refresh_token_lifetime)
            body["refresh_token"] = refresh_token
        return body
