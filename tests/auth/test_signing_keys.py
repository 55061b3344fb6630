"""Key rotation at the authority and the refetch rate limit, counted at the stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from entra_standin import RunningStandIn, running_standin

from prynai_mcp.auth.keys import SigningKeys, parse_jwks, parse_metadata
from prynai_mcp.auth.policy import EntraPolicy
from prynai_mcp.auth.reasons import AuthorityUnavailable, Reason, TokenRejected
from prynai_mcp.auth.verifier import EntraTokenVerifier
from tests.auth.verifiers import FakeClock, VerifierFactory


@pytest.fixture
def rotating() -> Iterator[RunningStandIn]:
    """A stand-in of the test's own: these tests change its keys."""
    with running_standin() as running:
        yield running


async def refused(verifier: EntraTokenVerifier, token: str) -> Reason:
    with pytest.raises(TokenRejected) as caught:
        await verifier.check(token)
    return caught.value.reason


async def test_unknown_kid_triggers_exactly_one_refetch(
    standin: RunningStandIn, make_verifier: VerifierFactory, clock: FakeClock
) -> None:
    verifier = make_verifier()
    assert await verifier.verify_token(standin.authority.mint()) is not None
    fetched = standin.authority.count("jwks")
    clock.advance(61)  # past the rate limit
    bogus = standin.authority.mint(header={"kid": "no-such-key"})
    assert await refused(verifier, bogus) is Reason.UNKNOWN_KEY
    assert standin.authority.count("jwks") == fetched + 1
    assert await refused(verifier, bogus) is Reason.UNKNOWN_KEY  # again at once: no second fetch
    assert standin.authority.count("jwks") == fetched + 1


async def test_a_flood_of_bogus_kids_does_not_hammer_the_authority(
    standin: RunningStandIn, make_verifier: VerifierFactory, clock: FakeClock
) -> None:
    verifier = make_verifier()
    assert await verifier.verify_token(standin.authority.mint()) is not None
    fetched = standin.authority.count("jwks")
    clock.advance(61)
    tokens = [standin.authority.mint(header={"kid": f"bogus-{n}"}) for n in range(300)]
    results = await asyncio.gather(*(verifier.verify_token(token) for token in tokens))
    assert results == [None] * 300
    assert standin.authority.count("jwks") == fetched + 1  # concurrent callers shared one fetch
    for second in range(0, 60, 5):  # a sustained flood over the next minute: still nothing
        clock.advance(5 if second else 0)
        await asyncio.gather(*(verifier.verify_token(token) for token in tokens[:20]))
    assert standin.authority.count("jwks") == fetched + 1
    clock.advance(5)  # a minute after the last fetch: one more is allowed
    await asyncio.gather(*(verifier.verify_token(token) for token in tokens[:50]))
    assert standin.authority.count("jwks") == fetched + 2
    # and valid tokens kept working throughout
    assert await verifier.verify_token(standin.authority.mint()) is not None


async def test_rotation_new_tokens_accepted_old_key_removed(
    rotating: RunningStandIn, make_verifier: VerifierFactory, clock: FakeClock
) -> None:
    verifier = make_verifier(standin=rotating)
    authority = rotating.authority
    old_token = authority.mint()
    assert await verifier.verify_token(old_token) is not None

    clock.advance(61)
    authority.rotate(retire_previous=True)  # new signing key; the old one is withdrawn
    new_token = authority.mint()
    assert await verifier.verify_token(new_token) is not None  # unknown kid -> one refetch -> accepted, no restart

    # The refetch replaced the key set: a token signed with the withdrawn key no longer verifies.
    assert await refused(verifier, old_token) is Reason.UNKNOWN_KEY


async def test_withdrawn_key_stops_working_after_max_age(
    rotating: RunningStandIn, make_verifier: VerifierFactory, clock: FakeClock
) -> None:
    authority = rotating.authority
    old_kid = authority.active_kid
    verifier = make_verifier(standin=rotating, max_age=3600)
    old_token = authority.mint()
    assert await verifier.verify_token(old_token) is not None
    authority.rotate()
    authority.remove_key(old_kid)
    assert await verifier.verify_token(old_token) is not None  # still cached: nothing told us yet
    clock.advance(3601)
    assert await refused(verifier, old_token) is Reason.UNKNOWN_KEY


async def test_published_but_unused_key_is_accepted(
    rotating: RunningStandIn, make_verifier: VerifierFactory, clock: FakeClock
) -> None:
    """Entra publishes the next key before using it; a token signed with any published key verifies."""
    authority = rotating.authority
    first = authority.active_kid
    authority.rotate()
    verifier = make_verifier(standin=rotating)
    assert await verifier.verify_token(authority.mint(kid=first)) is not None
    assert await verifier.verify_token(authority.mint()) is not None


async def test_authority_unreachable(rotating: RunningStandIn, clock: FakeClock) -> None:
    resource = rotating.authority.resource
    policy = EntraPolicy.create(authority=rotating.url, tenant=rotating.tenant_id, audiences=[resource.app_id])
    # A port nobody listens on: every fetch fails; the verifier says "unavailable", not "bad token".
    keys = SigningKeys("https://127.0.0.1:9", rotating.tenant_id, clock=clock, timeout=1)
    verifier = EntraTokenVerifier(policy, keys)
    token = rotating.authority.mint()
    with pytest.raises(AuthorityUnavailable):
        await verifier.check(token)
    assert keys.fetch_attempts == 1
    with pytest.raises(AuthorityUnavailable):
        await verifier.check(token)
    assert keys.fetch_attempts == 1  # retried after a pause, not on every request
    clock.advance(6)
    with pytest.raises(AuthorityUnavailable):
        await verifier.check(token)
    assert keys.fetch_attempts == 2
    await verifier.aclose()


async def test_discovery_must_name_one_tenant(rotating: RunningStandIn, clock: FakeClock) -> None:
    """An authority whose discovery document names another issuer base is refused as unusable."""
    keys = SigningKeys(rotating.url, rotating.tenant_id, ssl_context=rotating.tls.ssl_context(), clock=clock)
    rotating.authority.base_url = "https://127.0.0.2:1"  # the document now claims another authority
    try:
        with pytest.raises(AuthorityUnavailable):
            await keys.key("anything")
    finally:
        rotating.authority.base_url = rotating.url
        await keys.aclose()


def test_authority_must_be_https() -> None:
    with pytest.raises(ValueError, match="https"):
        SigningKeys("http://login.microsoftonline.com", "contoso.onmicrosoft.com")


AUTHORITY = "https://login.microsoftonline.com"
TENANT = "11111111-2222-4333-8444-555555555555"


@pytest.mark.parametrize(
    "issuer",
    [
        f"https://login.example.com/{TENANT}/v2.0",  # another authority
        f"{AUTHORITY}/{TENANT}",  # a v1 issuer shape, no /v2.0
        f"{AUTHORITY}/{{tenantid}}/v2.0",  # the multi-tenant document's template
        f"{AUTHORITY}/{TENANT}/extra/v2.0",  # not one tenant
    ],
    ids=["other authority", "no v2.0", "template", "nested path"],
)
def test_a_discovery_document_must_name_one_tenant_of_the_authority(issuer: str) -> None:
    document = {"issuer": issuer, "jwks_uri": f"{AUTHORITY}/{TENANT}/discovery/v2.0/keys"}
    with pytest.raises(ValueError, match="is not a single tenant of"):
        parse_metadata(document, AUTHORITY)


def test_a_discovery_document_for_one_tenant_is_read() -> None:
    document = {"issuer": f"{AUTHORITY}/{TENANT}/v2.0", "jwks_uri": f"{AUTHORITY}/{TENANT}/discovery/v2.0/keys"}
    metadata = parse_metadata(document, AUTHORITY + "/")
    assert (metadata.tenant_id, metadata.issuer) == (TENANT, f"{AUTHORITY}/{TENANT}/v2.0")


async def test_discovery_is_read_once_then_again_after_a_failure(
    rotating: RunningStandIn, make_verifier: VerifierFactory, clock: FakeClock
) -> None:
    """A key refresh fetches only the JWKS; after a failed fetch, the discovery document is read anew (its
    jwks_uri may be what changed)."""
    authority = rotating.authority
    verifier = make_verifier(standin=rotating, refetch_interval=1)
    assert await verifier.verify_token(authority.mint()) is not None
    discovered, fetched = authority.count("discovery"), authority.count("jwks")
    clock.advance(2)
    await verifier.keys.refresh()
    assert (authority.count("discovery"), authority.count("jwks")) == (discovered, fetched + 1)

    authority.fail_next("jwks")  # the authority stumbles once
    clock.advance(2)
    await verifier.keys.refresh()
    assert authority.count("jwks") == fetched + 2
    clock.advance(60)  # past the retry interval
    await verifier.keys.refresh()
    assert authority.count("discovery") == discovered + 1
    assert await verifier.verify_token(authority.mint()) is not None


def test_a_jwks_keeps_every_rsa_signing_key_and_skips_the_rest(standin: RunningStandIn) -> None:
    """Entra's key set may hold keys this server cannot use (other types, encryption keys, no kid, broken ones):
    each is skipped, and every usable key after it is still read."""
    published = standin.authority.jwks(standin.tenant_id)["keys"]
    good = published[0]
    document = {
        "keys": [
            {"kty": "EC", "kid": "ec-key", "crv": "P-256", "x": "AA", "y": "AA"},
            {**good, "kid": "encryption-key", "use": "enc"},
            {key: value for key, value in good.items() if key != "kid"},
            {"kty": "RSA", "kid": "broken-key", "use": "sig", "e": "AQAB"},  # no modulus
            "not a key",
            *published,
        ]
    }
    assert sorted(parse_jwks(document)) == sorted(key["kid"] for key in published)
