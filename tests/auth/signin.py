"""Interactive sign-in against the stand-in for the HTTP-level tests: the SDK's OAuthClientProvider with a
redirect handler that follows the authorization redirect over HTTP (the stand-in signs its demo user in without a
page), and the protocol steps by hand (authorize, redeem) for the tests of the endpoints themselves."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx2
from entra_standin import PublicClientApp, RunningStandIn
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from prynai_mcp.auth.entra_client import EntraTokenRequests, without_resource
from tests.auth.protected import http
from tests.support.clients import MODES
from tests.support.server import RunningServer

REDIRECT_URI = "http://localhost:53682"  # registered as http://localhost: Entra ignores a loopback port


class SignInRefused(Exception):
    """The authorization endpoint redirected back with an error instead of a code."""


@dataclass
class MemoryStorage:
    """The SDK's TokenStorage holding the pre-registered public client (Entra has no dynamic registration)."""

    client: OAuthClientInformationFull
    tokens: OAuthToken | None = None
    saved: list[OAuthToken] = field(default_factory=list)

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.saved.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


@dataclass
class FollowSignIn:
    """`redirect_handler` + `callback_handler`: one GET of the authorization URL, the code from its redirect.

    `adapt=False` leaves the URL as the SDK built it (with `resource`), to see what Entra says to that.
    """

    standin: RunningStandIn
    adapt: bool = True
    visits: int = 0
    _result: AuthorizationCodeResult | None = None

    async def redirect(self, url: str) -> None:
        self.visits += 1
        params = await authorize_url(self.standin, without_resource(url) if self.adapt else url)
        if "error" in params:
            raise SignInRefused(f"{params['error']}: {params.get('error_description')}")
        self._result = AuthorizationCodeResult(code=params["code"], state=params.get("state"))

    async def callback(self) -> AuthorizationCodeResult:
        assert self._result is not None
        return self._result


async def authorize_url(standin: RunningStandIn, url: str) -> dict[str, str]:
    """GET an authorization URL; the query of the redirect it answers with."""
    async with http(standin) as client:
        response = await client.get(url)
    assert response.status_code == 302, response.text
    return dict(parse_qsl(urlsplit(response.headers["location"]).query))


@dataclass
class SignedInClient:
    provider: OAuthClientProvider
    storage: MemoryStorage
    sign_in: FollowSignIn


def interactive(
    standin: RunningStandIn, server: RunningServer, public: PublicClientApp, *, adapt: bool = True
) -> SignedInClient:
    """The SDK's OAuthClientProvider for `public` (pre-registered, bound to the stand-in's tenant)."""
    client = OAuthClientInformationFull(
        client_id=public.client_id,
        redirect_uris=[REDIRECT_URI],  # pydantic parses the str
        token_endpoint_auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
        issuer=f"{standin.url}/{standin.tenant_id}/v2.0",
    )
    storage = MemoryStorage(client)
    sign_in = FollowSignIn(standin, adapt=adapt)
    provider = OAuthClientProvider(
        server_url=server.mcp_url,
        client_metadata=OAuthClientMetadata(redirect_uris=client.redirect_uris, token_endpoint_auth_method="none"),
        storage=storage,
        redirect_handler=sign_in.redirect,
        callback_handler=sign_in.callback,
    )
    return SignedInClient(provider, storage, sign_in)


@contextlib.asynccontextmanager
async def sdk_session(
    standin: RunningStandIn,
    server: RunningServer,
    auth: httpx2.Auth,
    wire: str,
    *,
    adapt: bool = True,
    client_credentials_scope: str | None = None,
) -> AsyncIterator[Client]:
    """The SDK client on `wire`, authenticating with `auth`; `adapt` sends token requests through
    `EntraTokenRequests` (no `resource`; `client_credentials_scope` for client credentials)."""
    inner = httpx2.AsyncHTTPTransport(verify=standin.tls.ssl_context(), trust_env=False)
    transport = (
        EntraTokenRequests(standin.url, client_credentials_scope=client_credentials_scope, inner=inner)
        if adapt
        else inner
    )
    async with (
        httpx2.AsyncClient(auth=auth, transport=transport, timeout=30, trust_env=False) as client,
        Client(streamable_http_client(server.mcp_url, http_client=client), mode=MODES[wire]) as mcp,
    ):
        yield mcp


def find(error: BaseException, kind: type[BaseException]) -> BaseException | None:
    """`kind` inside `error`, the exception groups the SDK's task groups raise, or its causes."""
    if isinstance(error, kind):
        return error
    inner = list(error.exceptions) if isinstance(error, BaseExceptionGroup) else []
    inner += [error.__cause__] if error.__cause__ is not None else []
    return next((found for e in inner if (found := find(e, kind)) is not None), None)


# --- the protocol by hand -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str

    @classmethod
    def generate(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


def endpoint(standin: RunningStandIn, name: str) -> str:
    return f"{standin.url}/{standin.tenant_id}/oauth2/v2.0/{name}"


def scope(standin: RunningStandIn, *names: str) -> str:
    return " ".join(
        n if n in ("offline_access", "openid") else f"{standin.authority.resource.app_id_uri}/{n}" for n in names
    )


async def authorize(
    standin: RunningStandIn, public: PublicClientApp, pkce: Pkce, **overrides: str | None
) -> httpx2.Response:
    """GET the authorization endpoint as the SDK would (Mcp.Invoke + offline_access, S256); None drops a parameter."""
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": public.client_id,
        "redirect_uri": REDIRECT_URI,
        "state": "st4te",
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        "scope": scope(standin, "Mcp.Invoke", "offline_access"),
        **overrides,
    }
    async with http(standin) as client:
        return await client.get(
            endpoint(standin, "authorize"), params={k: v for k, v in params.items() if v is not None}
        )


def redirected(response: httpx2.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI)
    return dict(parse_qsl(urlsplit(location).query))


async def token(standin: RunningStandIn, **form: str | None) -> httpx2.Response:
    async with http(standin) as client:
        return await client.post(endpoint(standin, "token"), data={k: v for k, v in form.items() if v is not None})


async def code_for(standin: RunningStandIn, public: PublicClientApp, pkce: Pkce, **overrides: str | None) -> str:
    return redirected(await authorize(standin, public, pkce, **overrides))["code"]


async def redeem(
    standin: RunningStandIn, public: PublicClientApp, code: str, pkce: Pkce, **overrides: str | None
) -> httpx2.Response:
    form: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "client_id": public.client_id,
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": pkce.verifier,
        **overrides,
    }
    return await token(standin, **form)


def entra_refusal(response: httpx2.Response | dict[str, Any], status: int, error: str, code: int) -> None:
    """`response` is Entra's JSON error (or redirect query) with this `error` and AADSTS `code`."""
    if isinstance(response, httpx2.Response):
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json()
        assert body["error_codes"] == [code], body
    else:
        body = response
    assert body["error"] == error, body
    assert str(body["error_description"]).startswith(f"AADSTS{code}:"), body
