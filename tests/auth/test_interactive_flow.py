"""Interactive sign-in end to end: the MCP SDK's OAuthClientProvider (authorization code + PKCE, refresh) against
the stand-in's Entra v2 endpoints and the protected HTTPS server, on both wires; the SDK's client-credentials
provider; and the authorization and token endpoints refusing what Entra refuses, with Entra's errors."""

from __future__ import annotations

import time

import anyio
import pytest
from entra_standin import PublicClientApp, RunningStandIn
from mcp.client.auth import OAuthTokenError
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider

from tests.auth.forge import payload_of
from tests.auth.protected import http
from tests.auth.signin import (
    MemoryStorage,
    Pkce,
    SignInRefused,
    authorize,
    code_for,
    endpoint,
    entra_refusal,
    find,
    interactive,
    redeem,
    redirected,
    scope,
    sdk_session,
    token,
)
from tests.support.server import RunningServer


@pytest.fixture
def public(standin: RunningStandIn) -> PublicClientApp:
    return standin.authority.add_public_client(redirect_uris=["http://localhost"], permissions=["Mcp.Invoke"])


# --- the SDK's providers, end to end -------------------------------------------------------------------------


async def test_sign_in_lists_tools_and_adds(
    standin: RunningStandIn, entra_server: RunningServer, public: PublicClientApp, wire: str
) -> None:
    signed = interactive(standin, entra_server, public)
    async with sdk_session(standin, entra_server, signed.provider, wire) as mcp:
        assert "add" in [tool.name for tool in (await mcp.list_tools()).tools]
        result = await mcp.call_tool("add", {"a": 20, "b": 22})
        assert result.content[0].text == "42"  # type: ignore[union-attr]
    assert signed.sign_in.visits == 1
    tokens = signed.storage.tokens
    assert tokens is not None and tokens.refresh_token  # the SDK asked for offline_access: the AS offers it
    claims = payload_of(tokens.access_token)
    user = standin.authority.user
    assert claims["aud"] == standin.authority.resource.app_id
    assert claims["iss"] == f"{standin.url}/{standin.tenant_id}/v2.0"
    assert claims["scp"] == "Mcp.Invoke"
    assert (claims["azp"], claims["azpacr"]) == (public.client_id, "0")
    assert (claims["oid"], claims["preferred_username"], claims["name"]) == (user.object_id, user.username, user.name)
    assert claims["tid"] == standin.tenant_id and claims["ver"] == "2.0"
    assert claims["sub"] != user.object_id  # pairwise: per user and client
    assert "roles" not in claims and "idtyp" not in claims


async def test_expired_access_token_is_refreshed_and_calls_continue(
    standin: RunningStandIn, entra_server: RunningServer, public: PublicClientApp, wire: str
) -> None:
    standin.authority.user_token_lifetime = 2
    try:
        signed = interactive(standin, entra_server, public)
        async with sdk_session(standin, entra_server, signed.provider, wire) as mcp:
            await mcp.call_tool("add", {"a": 1, "b": 1})
            first = signed.storage.tokens
            assert first is not None
            refreshes = standin.authority.count("grant:refresh_token")
            await anyio.sleep(2.2)
            assert payload_of(first.access_token)["exp"] <= time.time()  # really expired
            result = await mcp.call_tool("add", {"a": 2, "b": 3})
            assert result.content[0].text == "5"  # type: ignore[union-attr]
    finally:
        standin.authority.user_token_lifetime = 3599
    second = signed.storage.tokens
    assert second is not None
    assert standin.authority.count("grant:refresh_token") == refreshes + 1
    assert signed.sign_in.visits == 1  # refreshed, not signed in again
    assert second.access_token != first.access_token
    assert second.refresh_token and second.refresh_token != first.refresh_token  # a new one with each use


async def test_the_sdk_as_shipped_sends_resource_and_entra_refuses_it(
    standin: RunningStandIn, entra_server: RunningServer, public: PublicClientApp
) -> None:
    """Why prynai_mcp.auth.entra_client exists: the SDK sends the MCP URL as `resource`; Entra v2 says no."""
    signed = interactive(standin, entra_server, public, adapt=False)
    with pytest.raises(BaseException) as raised:
        async with sdk_session(standin, entra_server, signed.provider, "modern", adapt=False) as mcp:
            await mcp.list_tools()
    refused = find(raised.value, SignInRefused)
    assert refused is not None, raised.value
    assert "invalid_target" in str(refused) and "AADSTS9010010" in str(refused)


async def test_client_credentials_provider_lists_tools_and_adds(
    standin: RunningStandIn, entra_server: RunningServer, wire: str
) -> None:
    client = standin.authority.add_client(roles=["Mcp.Invoke"])
    provider = ClientCredentialsOAuthProvider(
        server_url=entra_server.mcp_url,
        storage=MemoryStorage(None),  # type: ignore[arg-type]  # the provider brings its own client info
        client_id=client.client_id,
        client_secret=client.secret,
        token_endpoint_auth_method="client_secret_post",
        issuer=f"{standin.url}/{standin.tenant_id}/v2.0",
    )
    cc_scope = f"{standin.authority.resource.app_id_uri}/.default"
    grants = standin.authority.count("grant:client_credentials")
    async with sdk_session(standin, entra_server, provider, wire, client_credentials_scope=cc_scope) as mcp:
        assert "add" in [tool.name for tool in (await mcp.list_tools()).tools]
        result = await mcp.call_tool("add", {"a": 40, "b": 2})
        assert result.content[0].text == "42"  # type: ignore[union-attr]
    assert standin.authority.count("grant:client_credentials") == grants + 1
    tokens = await provider.context.storage.get_tokens()
    assert tokens is not None and payload_of(tokens.access_token)["roles"] == ["Mcp.Invoke"]


async def test_client_credentials_provider_as_shipped_asks_for_the_delegated_scope(
    standin: RunningStandIn, entra_server: RunningServer
) -> None:
    """The SDK asks for what the server's metadata advertises (a user scope); Entra wants `<App ID URI>/.default`."""
    client = standin.authority.add_client(roles=["Mcp.Invoke"])
    provider = ClientCredentialsOAuthProvider(
        server_url=entra_server.mcp_url,
        storage=MemoryStorage(None),  # type: ignore[arg-type]
        client_id=client.client_id,
        client_secret=client.secret,
        token_endpoint_auth_method="client_secret_post",
        issuer=f"{standin.url}/{standin.tenant_id}/v2.0",
    )
    with pytest.raises(BaseException) as raised:
        async with sdk_session(standin, entra_server, provider, "modern", adapt=False) as mcp:
            await mcp.list_tools()
    refused = find(raised.value, OAuthTokenError)
    assert refused is not None, raised.value
    assert "invalid_scope" in str(refused) and "AADSTS1002012" in str(refused)


# --- the authorization endpoint ------------------------------------------------------------------------------


async def test_discovery_advertises_the_authorization_endpoint(standin: RunningStandIn) -> None:
    async with http(standin) as client:
        document = (await client.get(f"{standin.url}/{standin.tenant_id}/v2.0/.well-known/openid-configuration")).json()
    assert document["authorization_endpoint"] == endpoint(standin, "authorize")
    assert {"authorization_code", "refresh_token"} <= set(document["grant_types_supported"])
    assert "offline_access" in document["scopes_supported"]


async def test_the_code_comes_back_with_the_state_on_any_loopback_port(
    standin: RunningStandIn, public: PublicClientApp
) -> None:
    for redirect_uri in ("http://localhost:53682", "http://localhost:1234/"):
        response = await authorize(standin, public, Pkce.generate(), redirect_uri=redirect_uri)
        assert response.status_code == 302
        assert response.headers["location"].startswith(f"{redirect_uri.rstrip('/')}")
        assert "code=" in response.headers["location"] and "state=st4te" in response.headers["location"]


@pytest.mark.parametrize(
    ("overrides", "error", "code"),
    [
        ({"redirect_uri": "http://attacker.example/callback"}, "invalid_request", 50011),  # not registered
        ({"redirect_uri": "https://localhost:53682"}, "invalid_request", 50011),  # https is another redirect URI
        ({"client_id": "00000000-0000-0000-0000-000000000000"}, "unauthorized_client", 700016),
    ],
)
async def test_an_untrusted_client_or_redirect_gets_an_error_page_not_a_redirect(
    standin: RunningStandIn, public: PublicClientApp, overrides: dict[str, str], error: str, code: int
) -> None:
    response = await authorize(standin, public, Pkce.generate(), **overrides)
    assert "location" not in response.headers
    entra_refusal(response, 400, error, code)


@pytest.mark.parametrize(
    ("overrides", "error", "code"),
    [
        ({"code_challenge": None}, "invalid_request", 900144),  # PKCE required
        ({"code_challenge_method": "plain"}, "invalid_request", 70011),  # S256 only
        ({"code_challenge_method": None}, "invalid_request", 70011),  # absent means plain
        ({"response_type": "token"}, "unsupported_response_type", 700054),
        ({"scope": "openid offline_access"}, "invalid_scope", 70011),  # no scope of the server app
        ({"scope": "Mcp.Invoke"}, "invalid_scope", 650053),  # a bare name is a Microsoft Graph scope
        ({"scope": "{uri}/Nope"}, "invalid_scope", 650053),
        ({"scope": "api://other-app/Mcp.Invoke"}, "invalid_resource", 500011),
        ({"resource": "https://127.0.0.1:8443/mcp"}, "invalid_target", 9010010),  # what the SDK sends
    ],
)
async def test_refused_requests_redirect_back_with_entra_errors(
    standin: RunningStandIn, public: PublicClientApp, overrides: dict[str, str | None], error: str, code: int
) -> None:
    if overrides.get("scope"):
        overrides["scope"] = str(overrides["scope"]).replace("{uri}", standin.authority.resource.app_id_uri)
    query = redirected(await authorize(standin, public, Pkce.generate(), **overrides))
    assert "code" not in query and query["state"] == "st4te"
    entra_refusal(query, 400, error, code)


async def test_resource_naming_the_app_itself_is_accepted(standin: RunningStandIn, public: PublicClientApp) -> None:
    app = standin.authority.resource
    for resource in (app.app_id_uri, app.app_id):
        assert "code" in redirected(await authorize(standin, public, Pkce.generate(), resource=resource))


# --- the token endpoint: authorization_code ------------------------------------------------------------------


async def test_wrong_code_verifier_is_refused(standin: RunningStandIn, public: PublicClientApp) -> None:
    pkce = Pkce.generate()
    code = await code_for(standin, public, pkce)
    entra_refusal(await redeem(standin, public, code, Pkce.generate()), 400, "invalid_grant", 501481)
    entra_refusal(await redeem(standin, public, code, pkce, code_verifier=None), 400, "invalid_request", 900144)
    assert (await redeem(standin, public, code, pkce)).status_code == 200  # the right one still redeems it


async def test_a_code_is_redeemed_once(standin: RunningStandIn, public: PublicClientApp) -> None:
    pkce = Pkce.generate()
    code = await code_for(standin, public, pkce)
    assert (await redeem(standin, public, code, pkce)).status_code == 200
    entra_refusal(await redeem(standin, public, code, pkce), 400, "invalid_grant", 54005)


async def test_redirect_uri_must_be_the_one_the_code_was_issued_to(
    standin: RunningStandIn, public: PublicClientApp
) -> None:
    pkce = Pkce.generate()
    code = await code_for(standin, public, pkce)
    other = "http://localhost:9999"  # registered too (any port), but not the one in the authorization request
    entra_refusal(await redeem(standin, public, code, pkce, redirect_uri=other), 400, "invalid_grant", 500112)


async def test_an_expired_code_is_refused(standin: RunningStandIn, public: PublicClientApp) -> None:
    pkce = Pkce.generate()
    standin.authority.code_lifetime = 0
    try:
        code = await code_for(standin, public, pkce)
    finally:
        standin.authority.code_lifetime = 600
    entra_refusal(await redeem(standin, public, code, pkce), 400, "invalid_grant", 70008)


async def test_codes_belong_to_their_client(standin: RunningStandIn, public: PublicClientApp) -> None:
    pkce = Pkce.generate()
    code = await code_for(standin, public, pkce)
    other = standin.authority.add_public_client()
    entra_refusal(await redeem(standin, other, code, pkce), 400, "invalid_grant", 70000)


async def test_a_public_client_presenting_a_secret_is_refused(standin: RunningStandIn, public: PublicClientApp) -> None:
    pkce = Pkce.generate()
    code = await code_for(standin, public, pkce)
    entra_refusal(await redeem(standin, public, code, pkce, client_secret="s3cret"), 401, "invalid_client", 700025)


async def test_resource_at_the_token_endpoint_must_name_the_app(
    standin: RunningStandIn, public: PublicClientApp, entra_server: RunningServer
) -> None:
    pkce = Pkce.generate()
    code = await code_for(standin, public, pkce)
    refused = await redeem(standin, public, code, pkce, resource=entra_server.mcp_url)
    entra_refusal(refused, 400, "invalid_target", 9010010)
    assert (
        await redeem(standin, public, code, pkce, resource=standin.authority.resource.app_id_uri)
    ).status_code == 200


# --- the token endpoint: refresh_token -----------------------------------------------------------------------


async def test_refresh_tokens_only_with_offline_access(standin: RunningStandIn, public: PublicClientApp) -> None:
    pkce = Pkce.generate()
    code = await code_for(standin, public, pkce, scope=scope(standin, "Mcp.Invoke"))
    body = (await redeem(standin, public, code, pkce)).json()
    assert "refresh_token" not in body
    assert body["scope"] == scope(standin, "Mcp.Invoke") and body["token_type"] == "Bearer"


async def test_refresh_gives_a_new_access_and_refresh_token(standin: RunningStandIn, public: PublicClientApp) -> None:
    pkce = Pkce.generate()
    first = (await redeem(standin, public, await code_for(standin, public, pkce), pkce)).json()
    refreshed = await token(
        standin, grant_type="refresh_token", client_id=public.client_id, refresh_token=first["refresh_token"]
    )
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()
    assert second["refresh_token"] != first["refresh_token"]  # rotated
    assert second["access_token"] != first["access_token"]
    assert payload_of(second["access_token"])["scp"] == "Mcp.Invoke"  # no scope asked: the grant's
    # As with Entra, the previous refresh token stays valid until it expires.
    again = await token(
        standin, grant_type="refresh_token", client_id=public.client_id, refresh_token=first["refresh_token"]
    )
    assert again.status_code == 200


@pytest.mark.parametrize(
    ("form", "status", "error", "code"),
    [
        ({"refresh_token": "not-a-token"}, 400, "invalid_grant", 9002313),
        ({"scope": "{uri}/Mcp.Write"}, 400, "invalid_grant", 65001),  # wider than the grant
        ({"client_secret": "s3cret"}, 401, "invalid_client", 700025),
        ({"resource": "https://127.0.0.1:8443/mcp"}, 400, "invalid_target", 9010010),
    ],
)
async def test_refresh_refusals_look_like_entra(
    standin: RunningStandIn, public: PublicClientApp, form: dict[str, str], status: int, error: str, code: int
) -> None:
    pkce = Pkce.generate()
    issued = (await redeem(standin, public, await code_for(standin, public, pkce), pkce)).json()
    request = {"grant_type": "refresh_token", "client_id": public.client_id, "refresh_token": issued["refresh_token"]}
    request.update({k: v.replace("{uri}", standin.authority.resource.app_id_uri) for k, v in form.items()})
    entra_refusal(await token(standin, **request), status, error, code)


async def test_an_expired_refresh_token_is_refused(standin: RunningStandIn, public: PublicClientApp) -> None:
    pkce = Pkce.generate()
    standin.authority.refresh_token_lifetime = 0
    try:
        issued = (await redeem(standin, public, await code_for(standin, public, pkce), pkce)).json()
    finally:
        standin.authority.refresh_token_lifetime = 90 * 24 * 3600
    refused = await token(
        standin, grant_type="refresh_token", client_id=public.client_id, refresh_token=issued["refresh_token"]
    )
    entra_refusal(refused, 400, "invalid_grant", 70008)
