"""The Entra verifier against the stand-in's real keys over real HTTPS: what it accepts, and why it refuses."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest
from entra_standin import RunningStandIn

from prynai_mcp.auth.reasons import Reason, TokenRejected
from tests.auth.forge import hs256_with_public_key, payload_of, tampered, unsigned, with_header
from tests.auth.verifiers import VerifierFactory


async def rejection(verifier_factory: VerifierFactory, token: str, **policy: object) -> TokenRejected:
    verifier = verifier_factory(**policy)
    with pytest.raises(TokenRejected) as caught:
        await verifier.check(token)
    assert await verifier.verify_token(token) is None  # the SDK protocol refuses it too
    return caught.value


async def test_accepts_an_application_token(standin: RunningStandIn, make_verifier: VerifierFactory) -> None:
    client = standin.authority.default_client()
    token = standin.authority.mint(client)
    access = await make_verifier().verify_token(token)
    assert access is not None
    assert access.client_id == client.client_id
    assert access.subject == client.object_id
    assert access.claims is not None and access.claims["iss"] == f"{standin.url}/{standin.tenant_id}/v2.0"
    assert "Mcp.Invoke" in access.scopes
    assert access.expires_at == payload_of(token)["exp"] + 60  # exp plus the skew allowance
    assert access.resource == payload_of(token)["aud"]  # what the token was issued for, as the SDK is told


async def test_accepts_a_tenant_named_by_domain(standin: RunningStandIn, make_verifier: VerifierFactory) -> None:
    verifier = make_verifier(tenant=standin.authority.domain)
    assert await verifier.verify_token(standin.authority.mint()) is not None
    assert verifier.keys.metadata.tenant_id == standin.tenant_id


@pytest.mark.parametrize(
    ("shape", "reason", "words"),
    [
        ({"claims": {"exp": int(time.time()) - 300}}, Reason.EXPIRED, "expired"),
        ({"claims": {"nbf": int(time.time()) + 600}}, Reason.NOT_YET_VALID, "not valid yet"),
        ({"claims": {"iat": int(time.time()) + 600}}, Reason.NOT_YET_VALID, "not valid yet"),
        ({"claims": {"aud": "api://someone-else"}}, Reason.WRONG_AUDIENCE, "expected audience"),
        ({"claims": {"iss": "https://evil.example/v2.0"}}, Reason.WRONG_ISSUER, "not issued by"),
        ({"drop": ["tid"]}, Reason.MALFORMED, "'tid'"),
    ],
)
async def test_refuses_bad_claims(
    standin: RunningStandIn, make_verifier: VerifierFactory, shape: dict[str, object], reason: Reason, words: str
) -> None:
    refused = await rejection(make_verifier, standin.authority.mint(**shape))  # type: ignore[arg-type]
    assert refused.reason is reason
    assert words in refused.description


async def test_expiry_leeway_is_small(standin: RunningStandIn, make_verifier: VerifierFactory) -> None:
    just_expired = standin.authority.mint(claims={"exp": int(time.time()) - 10})
    access = await make_verifier().verify_token(just_expired)
    assert access is not None  # within the 60 s skew allowance
    assert access.expires_at is not None and access.expires_at >= time.time()  # so the SDK's own check agrees
    long_expired = standin.authority.mint(claims={"exp": int(time.time()) - 90})
    assert (await rejection(make_verifier, long_expired)).reason is Reason.EXPIRED


@pytest.mark.parametrize("tenant", ["00000000-0000-4000-8000-000000000001", "ffffffff-ffff-4fff-bfff-fffffffffffe"])
async def test_refuses_another_tenant(standin: RunningStandIn, make_verifier: VerifierFactory, tenant: str) -> None:
    # Entra signs every tenant's tokens with the same keys: only tid/iss tell them apart.
    stranger = standin.authority.add_client(tenant_id=tenant)
    token = standin.authority.mint(stranger)
    refused = await rejection(make_verifier, token)
    assert refused.reason is Reason.OTHER_TENANT
    assert standin.tenant_id in refused.description
    assert stranger.tenant_id not in refused.description  # token contents are not echoed


async def test_refuses_v1_tokens_unless_enabled(standin: RunningStandIn, make_verifier: VerifierFactory) -> None:
    token = standin.authority.mint(version=1)
    assert payload_of(token)["iss"] == f"https://sts.windows.net/{standin.tenant_id}/"
    refused = await rejection(make_verifier, token)
    assert refused.reason is Reason.WRONG_ISSUER
    assert "ENTRA_ACCEPT_V1_TOKENS" in refused.description
    access = await make_verifier(accept_v1=True).verify_token(token)
    assert access is not None and access.client_id == standin.authority.default_client().client_id


@pytest.mark.parametrize("issuer", ["https://login.example/", "https://tokens.example/"])  # either side of v1's
async def test_another_issuer_in_the_tenant_gets_no_v1_hint(
    standin: RunningStandIn, make_verifier: VerifierFactory, issuer: str
) -> None:
    claims = {**standin.authority.claims(), "iss": issuer}
    token = jwt.encode(
        claims, standin.authority.key().private_key, algorithm="RS256", headers={"kid": standin.authority.active_kid}
    )
    refused = await rejection(make_verifier, token)
    assert refused.reason is Reason.WRONG_ISSUER
    assert refused.description == f"The token was not issued by {standin.url}/{standin.tenant_id}/v2.0."


async def test_refuses_alg_none(standin: RunningStandIn, make_verifier: VerifierFactory) -> None:
    claims = standin.authority.claims()
    refused = await rejection(make_verifier, unsigned(claims, standin.authority.active_kid))
    assert refused.reason is Reason.UNSUPPORTED_ALGORITHM


async def test_refuses_hs256_signed_with_the_public_key(
    standin: RunningStandIn, make_verifier: VerifierFactory
) -> None:
    key = standin.authority.key()
    token = hs256_with_public_key(standin.authority.claims(), key.public_pem, key.kid)
    assert (await rejection(make_verifier, token)).reason is Reason.UNSUPPORTED_ALGORITHM


async def test_refuses_a_tampered_payload(standin: RunningStandIn, make_verifier: VerifierFactory) -> None:
    token = standin.authority.mint()
    forged = tampered(token, roles=["Mcp.Invoke", "Mcp.Admin"])
    refused = await rejection(make_verifier, forged)
    assert refused.reason is Reason.BAD_SIGNATURE


async def test_signature_is_checked_before_claims(standin: RunningStandIn, make_verifier: VerifierFactory) -> None:
    forged = tampered(standin.authority.mint(), aud="api://elsewhere", exp=1)
    assert (await rejection(make_verifier, forged)).reason is Reason.BAD_SIGNATURE


@pytest.mark.parametrize("garbage", ["", "not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9..", "....", "Ω.Ω.Ω"])
async def test_refuses_garbage(make_verifier: VerifierFactory, garbage: str) -> None:
    assert (await rejection(make_verifier, garbage)).reason is Reason.MALFORMED


NO_KID = "The token header names no signing key (kid)."
NOT_A_JWT = "The bearer token is not a well-formed JWT."  # PyJWT itself refuses a kid that is not a string


@pytest.mark.parametrize(
    ("kid", "description"),
    [(None, NO_KID), ("", NO_KID), (123, NOT_A_JWT), (["k"], NOT_A_JWT)],
    ids=["absent", "empty", "a number", "a list"],
)
async def test_refuses_a_token_without_a_kid_string(
    standin: RunningStandIn, make_verifier: VerifierFactory, kid: object, description: str
) -> None:
    token = jwt.encode(standin.authority.claims(), standin.authority.key().private_key, algorithm="RS256")
    if kid is not None:
        token = with_header(token, kid=kid)
    refused = await rejection(make_verifier, token)
    assert refused.reason is Reason.MALFORMED
    assert refused.description == description


def padded_to(standin: RunningStandIn, length: int) -> str:
    """A valid token exactly `length` characters long: a padded claim, and a header field that shifts the header's
    length where base64's steps of four leave the payload's short of it."""
    for shift in ("", "y", "yy"):
        header = {"x-shift": shift} if shift else None
        base = len(standin.authority.mint(claims={"padding": ""}, header=header))
        estimate = max(0, (length - base) * 3 // 4 - 4)
        for extra in range(12):
            token = standin.authority.mint(claims={"padding": "x" * (estimate + extra)}, header=header)
            if len(token) == length:
                return token
    raise AssertionError(f"no token of exactly {length} characters")


async def test_the_size_limit_is_16_kib(standin: RunningStandIn, make_verifier: VerifierFactory) -> None:
    limit = 16 * 1024
    verifier = make_verifier()
    assert await verifier.verify_token(padded_to(standin, limit)) is not None  # at the limit: accepted
    refused = await rejection(make_verifier, padded_to(standin, limit + 1))
    assert refused.reason is Reason.OVERSIZED
    assert refused.description == f"The token is longer than {limit} characters."


async def test_refuses_an_oversized_token_without_parsing(
    standin: RunningStandIn, make_verifier: VerifierFactory
) -> None:
    token = standin.authority.mint(claims={"padding": "x" * 20_000})
    before = standin.authority.count("jwks")
    refused = await rejection(make_verifier, token)
    assert refused.reason is Reason.OVERSIZED
    assert standin.authority.count("jwks") == before  # refused before any key was needed


async def test_descriptions_never_echo_the_token(standin: RunningStandIn, make_verifier: VerifierFactory) -> None:
    token = standin.authority.mint(claims={"aud": "api://secret-audience-value", "exp": int(time.time()) + 60})
    refused = await rejection(make_verifier, token)
    assert "secret-audience-value" not in refused.description
    assert token not in str(refused)


async def test_a_reused_token_is_served_from_the_cache(standin: RunningStandIn, make_verifier: VerifierFactory) -> None:
    verifier = make_verifier()
    token = standin.authority.mint()
    first = await verifier.check(token)
    assert await verifier.check(token) is first  # same result object: not parsed or verified again
    assert len(verifier.cache) == 1


async def test_the_cache_never_outlives_the_token(standin: RunningStandIn, make_verifier: VerifierFactory) -> None:
    verifier = make_verifier(leeway=0)
    token = standin.authority.mint(claims={"exp": int(time.time()) + 1})
    assert await verifier.verify_token(token) is not None
    await asyncio.sleep(max(0.0, payload_of(token)["exp"] - time.time()) + 1.05)
    assert (await rejection(make_verifier, token, leeway=0)).reason is Reason.EXPIRED
    with pytest.raises(TokenRejected) as caught:
        await verifier.check(token)  # the verifier that cached it refuses it too
    assert caught.value.reason is Reason.EXPIRED


async def test_failures_are_not_cached(standin: RunningStandIn, make_verifier: VerifierFactory) -> None:
    verifier = make_verifier()
    for _ in range(2):
        with pytest.raises(TokenRejected):
            await verifier.check(standin.authority.mint(claims={"aud": "api://elsewhere"}))
    assert len(verifier.cache) == 0
