"""Interactive sign-in pieces for examples/oauth_interactive.py: the loopback redirect receiver, token storage,
and the two ways to get through the authorization page (a browser, or following the redirect over HTTP)."""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import time
import webbrowser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthMetadata, OAuthToken

from prynai_mcp.auth.entra_client import without_resource

SIGN_IN_TIMEOUT = 300.0  # seconds a person gets to finish signing in


class SignInFailed(Exception):
    """The authority refused the sign-in (its error and AADSTS description), or nobody finished it."""


class LoopbackCallback:
    """Receives the authority's redirect on http://127.0.0.1:PORT (0: any free port), once.

    Registered in Entra as `http://localhost` (Mobile and desktop applications): Entra ignores the port of a
    loopback redirect URI, so a random port per run needs no registration change.
    """

    def __init__(self, port: int = 0) -> None:
        self._results: queue.Queue[dict[str, str]] = queue.Queue()
        results = self._results

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                params = {name: values[0] for name, values in parse_qs(urlsplit(self.path).query).items()}
                if "code" not in params and "error" not in params:
                    self.send_error(404)  # e.g. a browser asking for /favicon.ico
                    return
                results.put(params)
                text = "Signed in. You can close this window." if "code" in params else "Sign-in failed."
                body = f"<!doctype html><title>PrynAI MCP</title><p>{text}</p>".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # the URL holds the code: keep it off stderr
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = int(self._server.server_address[1])
        self.redirect_uri = f"http://localhost:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="signin-callback", daemon=True)

    def __enter__(self) -> LoopbackCallback:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    async def result(self) -> AuthorizationCodeResult:
        """The SDK's `callback_handler`: waits for the redirect and hands over the code."""
        try:
            params = await anyio.to_thread.run_sync(self._results.get, True, SIGN_IN_TIMEOUT, abandon_on_cancel=True)
        except queue.Empty:
            raise SignInFailed(f"no sign-in within {SIGN_IN_TIMEOUT:.0f} s") from None
        if "error" in params:
            raise SignInFailed(f"{params['error']}: {params.get('error_description', '')}")
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"))


class SignInPage:
    """The SDK's `redirect_handler`: takes the user to the authorization page (a browser), or, with `follow`,
    follows the redirect itself over HTTP; only an authority that signs in without a page (the local stand-in)
    lets that through."""

    def __init__(self, *, follow: bool) -> None:
        self.follow = follow
        self.visits = 0

    async def __call__(self, authorization_url: str) -> None:
        self.visits += 1
        url = without_resource(authorization_url)  # Entra v2 refuses it: see prynai_mcp.auth.entra_client
        if not self.follow:
            print(f"Opening the browser to sign in; if it does not open, visit:\n  {url}", file=sys.stderr)
            webbrowser.open(url)
            return
        async with httpx2.AsyncClient(timeout=30) as http:  # trusts the CA that SSL_CERT_FILE names
            page = await http.get(url)
            location = page.headers.get("location")
            if page.status_code not in (302, 303) or location is None:
                raise SignInFailed(
                    f"the authorization endpoint answered {page.status_code}, not a redirect "
                    f"(a sign-in page needs a person: run without --no-browser): {page.text[:300]}"
                )
            await http.get(location)  # to our loopback receiver, as a browser would


class TokenStore:
    """The SDK's `TokenStorage`: the pre-registered public client, and tokens in memory, or in `path` if asked.

    A file holds a refresh token (a secret): it is written only when the user asks for one, owner-readable only.
    """

    def __init__(self, client: OAuthClientInformationFull, path: Path | None = None) -> None:
        self.client = client
        self.path = path
        self.expires_at: float | None = None
        self._tokens: OAuthToken | None = None
        self._metadata: OAuthMetadata | None = None
        self._provider: OAuthClientProvider | None = None
        if path is not None and path.is_file():
            cached = json.loads(path.read_text())
            self._tokens = OAuthToken.model_validate(cached["tokens"])
            self.expires_at = cached.get("expires_at")
            if cached.get("authority"):
                self._metadata = OAuthMetadata.model_validate(cached["authority"])

    async def get_tokens(self) -> OAuthToken | None:
        return self._tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self._tokens = tokens
        self.expires_at = time.time() + tokens.expires_in if tokens.expires_in is not None else None
        if self._provider is not None and self._provider.context.oauth_metadata is not None:
            self._metadata = self._provider.context.oauth_metadata
        if self.path is not None:
            cached = {
                "tokens": tokens.model_dump(mode="json"),
                "expires_at": self.expires_at,
                "authority": self._metadata.model_dump(mode="json", exclude_none=True) if self._metadata else None,
            }
            self.path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as file:
                json.dump(cached, file)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client  # Entra has no dynamic registration: the client id is pre-registered

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info

    def attach(self, provider: OAuthClientProvider) -> None:
        """Give the provider what the SDK (mcp 2.3) reloads from storage only in part: cached tokens' expiry, and
        the authority's metadata, found by discovery on the first run.

        Without the expiry a stale access token would be sent (401, then a whole new sign-in) instead of
        refreshed; without the metadata a refresh before any discovery goes to `/token` on the MCP server's own
        origin, which would hand it the refresh token.
        """
        self._provider = provider
        if self._metadata is not None and str(self._metadata.issuer) != self.client.issuer:
            self._tokens = self._metadata = None  # cached for another tenant or authority: sign in afresh
        if self._tokens is not None and self.expires_at is not None:
            provider.context.token_expiry_time = self.expires_at
        if self._tokens is not None and self._metadata is not None:
            provider.context.oauth_metadata = self._metadata
