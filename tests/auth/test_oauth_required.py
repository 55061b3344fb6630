"""/mcp behind Entra ID, over HTTPS, as clients see it: 401/403 with reasons, the RFC 9728 document, open health,
tools on both wires with a good token, per-tool roles, sessions bound to their principal, key rotation live."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from entra_standin import RunningStandIn, StandInAuthority, running_standin
from mcp.shared.exceptions import MCPError

from tests.auth.forge import hs256_with_public_key, signed_payload, tampered, unsigned
from tests.auth.protected import (
    LEGACY_VERSION,
    STREAM_ACCEPT,
    http,
    initialize_body,
    mcp_client,
    protected_server,
    www_authenticate,
)
from tests.support.documented import TOOL_FORBIDDEN
from tests.support.server import RunningServer
from tests.support.waiting import eventually


@pytest.fixture(scope="module")
def standin() -> Iterator[RunningStandIn]:
    """This module's own stand-in: it rotates keys."""
    with running_standin() as running:
        running.authority.add_client(roles=["Mcp.Invoke"])
        yield running


@pytest.fixture(scope="module")
def entra_server(standin: RunningStandIn) -> Iterator[RunningServer]:
    with protected_server(standin) as running:
        yield running


def metadata_url(entra_server: RunningServer) -> str:
    return f"{entra_server.url}/.well-known/oauth-protected-resource/mcp"


async def post_initialize(standin: RunningStandIn, entra_server: RunningServer, token: str | None) -> Any:
    async with http(standin, token) as client:
        return await client.post(entra_server.mcp_url, json=initialize_body(), headers=STREAM_ACCEPT)


async def test_no_token_gets_401_pointing_at_the_metadata(standin: RunningStandIn, entra_server: RunningServer) -> None:
    response = await post_initialize(standin, entra_server, None)
    assert response.status_code == 401
    challenge = www_authenticate(response.headers)
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{metadata_url(entra_server)}"' in challenge
    assert response.json()["error"] == "invalid_token"


async def test_a_refused_request_logs_no_junk_session_id(standin: RunningStandIn, entra_server: RunningServer) -> None:
    """A 401 is written to the access log too: the client's Mcp-Session-Id (20 KB of junk here) is not copied."""
    since = entra_server.log_size()
    async with http(standin) as client:
        headers = {**STREAM_ACCEPT, "Mcp-Session-Id": "x" * 20_000}
        response = await client.post(entra_server.mcp_url, json=initialize_body(), headers=headers)
    assert response.status_code == 401
    marker = "invalid:" + "x" * 64 + "…"

    def refused_lines() -> list[dict[str, Any]]:
        lines = entra_server.log_records(since)
        return [r for r in lines if r.get("event") == "http" and r.get("status") == 401 and r["session"] == marker]

    await eventually(lambda: len(refused_lines()) == 1, 5)
    assert max(len(text) for text in entra_server.log(since).splitlines()) < 1000


async def test_protected_resource_metadata(standin: RunningStandIn, entra_server: RunningServer) -> None:
    async with http(standin) as client:
        response = await client.get(metadata_url(entra_server))
    assert response.status_code == 200
    document = response.json()
    assert document["resource"] == entra_server.mcp_url
    assert document["authorization_servers"] == [f"{standin.url}/{standin.tenant_id}/v2.0"]
    assert document["scopes_supported"] == [f"{standin.authority.resource.app_id_uri}/Mcp.Invoke"]


@pytest.mark.parametrize("path", ["/healthz", "/livez"])
@pytest.mark.parametrize("token", [None, "garbage"])
async def test_health_is_open(
    standin: RunningStandIn, entra_server: RunningServer, path: str, token: str | None
) -> None:
    async with http(standin, token) as client:
        response = await client.get(entra_server.url + path)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_valid_token_lists_and_calls_tools(
    standin: RunningStandIn, entra_server: RunningServer, wire: str
) -> None:
    token = standin.authority.mint()
    async with mcp_client(entra_server, standin, token, wire) as mcp:
        tools = [tool.name for tool in (await mcp.list_tools()).tools]
        assert {"add", "bump_counter"} <= set(tools)
        result = await mcp.call_tool("add", {"a": 7, "b": 8})
        assert result.content[0].text == "15"  # type: ignore[union-attr]


def _expired(a: StandInAuthority) -> str:
    return a.mint(claims={"exp": int(time.time()) - 300})


def _not_yet_valid(a: StandInAuthority) -> str:
    return a.mint(claims={"nbf": int(time.time()) + 600})


def _wrong_audience(a: StandInAuthority) -> str:
    return a.mint(claims={"aud": "api://another-api"})


def _wrong_issuer(a: StandInAuthority) -> str:
    return a.mint(claims={"iss": "https://issuer.invalid/v2.0"})


def _other_tenant(a: StandInAuthority) -> str:
    return a.mint(a.add_client(tenant_id="0f0f0f0f-0000-4000-8000-000000000002", roles=["Mcp.Invoke"]))


def _alg_none(a: StandInAuthority) -> str:
    return unsigned(a.claims(), a.active_kid)


def _hs256(a: StandInAuthority) -> str:
    return hs256_with_public_key(a.claims(), a.key().public_pem, a.active_kid)


def _tampered(a: StandInAuthority) -> str:
    return tampered(a.mint(), roles=["Mcp.Invoke", "Mcp.Write"])


def _garbage(a: StandInAuthority) -> str:
    return "definitely-not-a-jwt"


def _oversized(a: StandInAuthority) -> str:
    # Past the verifier's 16 KiB, within PRYNAI_MAX_HEADER_BYTES (32 KiB; a larger header is 431 before auth).
    return a.mint(claims={"padding": "x" * 14_000})


def _exp_of(exp: str) -> Callable[[StandInAuthority], str]:
    """A token signed by the authority whose `exp` is the JSON text `exp`, as written (not re-encoded)."""

    def forge(a: StandInAuthority) -> str:
        claims = json.dumps({**a.claims(), "exp": "EXP"}, separators=(",", ":"))
        return signed_payload(claims.replace('"EXP"', exp).encode(), a.key().private_key, a.active_kid)

    forge.__name__ = f"_exp_{exp}"[:24]
    return forge


MALFORMED_EXP = "exp claim is not a time"
EXP_REFUSALS: list[tuple[Callable[[StandInAuthority], str], str]] = [
    (_exp_of('"soon"'), MALFORMED_EXP),
    (_exp_of("[1900000000]"), MALFORMED_EXP),
    (_exp_of("1e400"), MALFORMED_EXP),  # infinity to Python's parser
    (_exp_of('"1900000000"'), MALFORMED_EXP),  # int() reads it; `+ leeway` did not
    (_exp_of("1" + "0" * 400), MALFORMED_EXP),  # too large for a float
    (_exp_of("1e300"), MALFORMED_EXP),
    (_exp_of("null"), "lacks the 'exp' claim"),  # PyJWT: null is missing
    (_exp_of("true"), MALFORMED_EXP),
    (_exp_of("-1"), MALFORMED_EXP),
]

REFUSALS: list[tuple[Callable[[StandInAuthority], str], str]] = [
    (_expired, "expired"),
    (_not_yet_valid, "not valid yet"),
    (_wrong_audience, "issued for another resource"),
    (_wrong_issuer, "not issued by"),
    (_other_tenant, "another tenant"),
    (_alg_none, "algorithm is not accepted"),
    (_hs256, "algorithm is not accepted"),
    (_tampered, "signature does not verify"),
    (_garbage, "not a well-formed JWT"),
    (_oversized, "longer than"),
    *EXP_REFUSALS,
]


@pytest.mark.parametrize(("forge", "words"), REFUSALS, ids=[forge.__name__.strip("_") for forge, _ in REFUSALS])
async def test_bad_tokens_get_401_with_the_reason(
    standin: RunningStandIn, entra_server: RunningServer, forge: Callable[[StandInAuthority], str], words: str
) -> None:
    token = forge(standin.authority)
    response = await post_initialize(standin, entra_server, token)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_token"
    assert words in body["error_description"]
    challenge = www_authenticate(response.headers)
    assert 'error="invalid_token"' in challenge
    assert words in challenge
    assert f'resource_metadata="{metadata_url(entra_server)}"' in challenge
    assert token not in response.text


async def test_missing_app_role_gets_403_naming_it(standin: RunningStandIn, entra_server: RunningServer) -> None:
    token = standin.authority.mint(standin.authority.add_client(roles=["Mcp.Read"]))
    response = await post_initialize(standin, entra_server, token)
    assert response.status_code == 403
    assert response.json() == {"error": "insufficient_scope", "error_description": "Missing app role: Mcp.Invoke"}
    assert 'error="insufficient_scope"' in www_authenticate(response.headers)


async def test_missing_delegated_scope_gets_403_naming_it(standin: RunningStandIn, entra_server: RunningServer) -> None:
    token = standin.authority.mint(scp="User.Read")
    response = await post_initialize(standin, entra_server, token)
    assert response.status_code == 403
    assert response.json()["error_description"] == "Missing scope: Mcp.Invoke"
    full = f"{standin.authority.resource.app_id_uri}/Mcp.Invoke"
    assert f'scope="{full}"' in www_authenticate(response.headers)


async def test_delegated_token_with_the_scope_works(standin: RunningStandIn, entra_server: RunningServer) -> None:
    token = standin.authority.mint(scp="Mcp.Invoke")
    async with mcp_client(entra_server, standin, token, "modern") as mcp:
        assert (await mcp.call_tool("add", {"a": 1, "b": 2})).content[0].text == "3"  # type: ignore[union-attr]


async def test_tool_roles(standin: RunningStandIn, entra_server: RunningServer, wire: str) -> None:
    reader = standin.authority.mint(standin.authority.add_client(roles=["Mcp.Invoke"]))
    async with mcp_client(entra_server, standin, reader, wire) as mcp:
        with pytest.raises(MCPError) as refused:
            await mcp.call_tool("bump_counter", {})
        assert refused.value.code == TOOL_FORBIDDEN
        assert "bump_counter" in refused.value.message and "Mcp.Write" in refused.value.message
        assert (await mcp.call_tool("add", {"a": 2, "b": 2})).content[0].text == "4"  # type: ignore[union-attr]
    writer = standin.authority.mint(standin.authority.add_client(roles=["Mcp.Invoke", "Mcp.Write"]))
    async with mcp_client(entra_server, standin, writer, wire) as mcp:
        result = await mcp.call_tool("bump_counter", {})
        assert not result.is_error


async def test_legacy_session_with_another_principals_token_is_404(
    standin: RunningStandIn, entra_server: RunningServer
) -> None:
    owner = standin.authority.mint(standin.authority.add_client(roles=["Mcp.Invoke"]))
    intruder = standin.authority.mint(standin.authority.add_client(roles=["Mcp.Invoke"]))
    async with http(standin) as client:
        opened = await client.post(
            entra_server.mcp_url, json=initialize_body(), headers={**STREAM_ACCEPT, "Authorization": f"Bearer {owner}"}
        )
        assert opened.status_code == 200
        session = opened.headers["mcp-session-id"]
        headers = {**STREAM_ACCEPT, "Mcp-Session-Id": session, "MCP-Protocol-Version": LEGACY_VERSION}
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        done = await client.post(
            entra_server.mcp_url, json=initialized, headers={**headers, "Authorization": f"Bearer {owner}"}
        )
        assert done.status_code == 202
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        stolen = await client.post(
            entra_server.mcp_url, json=listing, headers={**headers, "Authorization": f"Bearer {intruder}"}
        )
        assert stolen.status_code == 404
        mine = await client.post(
            entra_server.mcp_url, json=listing, headers={**headers, "Authorization": f"Bearer {owner}"}
        )
        assert mine.status_code == 200 and "add" in mine.text


async def test_unknown_kid_is_refused_after_exactly_one_refetch(
    standin: RunningStandIn, entra_server: RunningServer
) -> None:
    await asyncio.sleep(1.1)  # past the server's refetch interval (PRYNAI_JWKS_REFETCH_SECONDS=1)
    before = standin.authority.count("jwks")
    bogus = standin.authority.mint(header={"kid": "kid-nobody-published"})
    response = await post_initialize(standin, entra_server, bogus)
    assert response.status_code == 401
    assert "key the authority does not publish" in response.json()["error_description"]
    assert standin.authority.count("jwks") == before + 1
    again = await post_initialize(standin, entra_server, standin.authority.mint(header={"kid": "another-bogus-kid"}))
    assert again.status_code == 401
    assert standin.authority.count("jwks") == before + 1  # rate limited: no second fetch


async def test_key_rotation_without_restart(standin: RunningStandIn, entra_server: RunningServer) -> None:
    old = standin.authority.mint()
    assert (await post_initialize(standin, entra_server, old)).status_code == 200
    standin.authority.rotate(retire_previous=True)
    await asyncio.sleep(1.1)
    new = standin.authority.mint()
    assert (await post_initialize(standin, entra_server, new)).status_code == 200  # new key fetched on first sight
    refused = await post_initialize(standin, entra_server, old)  # the old key was withdrawn with that fetch
    assert refused.status_code == 401
    assert "key the authority does not publish" in refused.json()["error_description"]


async def test_unreachable_authority_is_503_not_401(standin: RunningStandIn) -> None:
    # Port 9 on loopback: nothing listens. The server still starts and answers health; /mcp says "try later".
    with protected_server(standin, ENTRA_AUTHORITY="https://127.0.0.1:9") as entra_server:
        async with http(standin, standin.authority.mint()) as client:
            response = await client.post(entra_server.mcp_url, json=initialize_body(), headers=STREAM_ACCEPT)
            assert response.status_code == 503
            assert response.headers["retry-after"].isdigit()
            assert json.loads(response.text)["error"] == "temporarily_unavailable"
            assert (await client.get(f"{entra_server.url}/healthz")).status_code == 200


async def test_public_url_names_the_resource_behind_a_proxy(standin: RunningStandIn) -> None:
    """Behind a proxy or ingress, PRYNAI_PUBLIC_URL is the address clients use: the 401 points there, and so does
    the RFC 9728 document (served at the same path here, as the proxy forwards it)."""
    public = "https://mcp.example.com/mcp"
    with protected_server(standin, PRYNAI_PUBLIC_URL=public, PRYNAI_ALLOWED_HOSTS="mcp.example.com") as proxied:
        async with http(standin) as client:
            refused = await client.post(
                proxied.mcp_url, json=initialize_body(), headers={**STREAM_ACCEPT, "Host": "mcp.example.com"}
            )
            document = (await client.get(metadata_url(proxied), headers={"Host": "mcp.example.com"})).json()
    assert refused.status_code == 401
    expected = 'resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"'
    assert expected in www_authenticate(refused.headers)
    assert document["resource"] == public
