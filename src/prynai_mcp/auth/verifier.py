"""`EntraTokenVerifier`: the SDK's `TokenVerifier` for Microsoft Entra ID access tokens.

`check()` is the full decision, raising `TokenRejected` with a reason; `verify_token()` is the SDK protocol
(AccessToken or None). The HTTP gate (`gate.py`) calls `check()` to answer with the precise reason, then lets the
SDK's own bearer middleware run, which calls `verify_token()`: the second call, like every later request with the
same token, is answered from `VerifiedTokens` (see `cache.py` for why that is the same decision).

Order of checks: size, the cache, then on a miss: header (algorithm allow-list before any key is touched), key,
signature, then claims.
Claims are only trusted after the signature, so a tampered token is "bad signature", not "wrong audience".
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from mcp.server.auth.provider import AccessToken

from prynai_mcp.auth.cache import VerifiedTokens
from prynai_mcp.auth.keys import SigningKeys
from prynai_mcp.auth.policy import EntraPolicy, Missing
from prynai_mcp.auth.reasons import AuthorityUnavailable, Reason, TokenRejected

# Entra tokens are 1-3 KB, up to ~10 KB with many group claims; anything larger is refused before parsing.
MAX_TOKEN_CHARS = 16 * 1024
REQUIRED_CLAIMS = ["exp", "iat", "aud", "iss", "tid", "sub"]
MAX_EXP = 253_402_300_799  # 9999-12-31T23:59:59Z: any later `exp` is no date a token is issued with

_JWT_ERRORS: list[tuple[type[jwt.PyJWTError], Reason, str]] = [
    (jwt.InvalidSignatureError, Reason.BAD_SIGNATURE, "The token's signature does not verify."),
    (jwt.ImmatureSignatureError, Reason.NOT_YET_VALID, "The token is not valid yet (check the clocks)."),
    (jwt.InvalidAlgorithmError, Reason.UNSUPPORTED_ALGORITHM, "The token's signing algorithm is not accepted."),
    (jwt.InvalidIssuedAtError, Reason.MALFORMED, "The token's iat claim is not a number."),
]


@dataclass(frozen=True)
class Verified:
    """An authentic token for this server, and what it lacks under the policy (None: nothing)."""

    access_token: AccessToken
    missing: Missing | None


class EntraTokenVerifier:
    """Validates Entra v2 (and optionally v1) access tokens against the tenant's published keys."""

    def __init__(
        self,
        policy: EntraPolicy,
        keys: SigningKeys,
        *,
        max_token_chars: int = MAX_TOKEN_CHARS,
        cache: VerifiedTokens[Verified] | None = None,
    ) -> None:
        self.policy = policy
        self.keys = keys
        self.max_token_chars = max_token_chars
        self.cache: VerifiedTokens[Verified] = cache if cache is not None else VerifiedTokens()

    async def verify_token(self, token: str) -> AccessToken | None:
        """SDK protocol: the AccessToken of an acceptable token, else None (the SDK then answers 401).

        A token lacking a required scope or role is refused here too, so the server stays closed even without
        the gate; with the gate installed such a request has already been answered 403.
        """
        try:
            verified = await self.check(token)
        except (TokenRejected, AuthorityUnavailable):
            return None
        return verified.access_token if verified.missing is None else None

    async def check(self, token: str) -> Verified:
        """Authenticate `token` and evaluate the policy. Raises `TokenRejected` or `AuthorityUnavailable`."""
        if len(token) > self.max_token_chars:
            raise TokenRejected(Reason.OVERSIZED, f"The token is longer than {self.max_token_chars} characters.")
        # A stale key set is refreshed first, so a key the authority withdrew also retires the tokens it signed.
        cached = self.cache.get(token, await self.keys.current_version(), time.time())
        if cached is not None:
            return cached
        claims = await self._authenticate(token)
        access_token = self._access_token(token, claims)
        verified = Verified(access_token, self.policy.missing(claims))
        # No await since the key lookup: this is the version of the key set that held the token's key.
        self.cache.put(token, verified, self.keys.version, float(access_token.expires_at or 0))
        return verified

    async def _authenticate(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRejected(Reason.MALFORMED, "The bearer token is not a well-formed JWT.") from None
        if header.get("alg") not in self.policy.algorithms:
            raise TokenRejected(
                Reason.UNSUPPORTED_ALGORITHM,
                f"The token's signing algorithm is not accepted (only {', '.join(self.policy.algorithms)}).",
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected(Reason.MALFORMED, "The token header names no signing key (kid).")
        key = await self.keys.key(kid)
        if key is None:
            raise TokenRejected(Reason.UNKNOWN_KEY, "The token is signed with a key the authority does not publish.")
        claims = self._decode(token, key)
        self._check_expiry(claims)
        self._check_origin(claims)
        return claims

    def _decode(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=list(self.policy.algorithms),
                audience=list(self.policy.audiences),
                leeway=self.policy.leeway,
                # Issuer: _check_origin, with the tenant. Expiry: _check_expiry, which also refuses an `exp` PyJWT
                # lets through (a numeric string, a number past any date) that would fail later, as a 500.
                options={"require": REQUIRED_CLAIMS, "verify_iss": False, "verify_exp": False},
            )
        except jwt.InvalidAudienceError:
            expected = ", ".join(self.policy.audiences)
            raise TokenRejected(
                Reason.WRONG_AUDIENCE, f"The token was issued for another resource; expected audience: {expected}."
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRejected(Reason.MALFORMED, f"The token lacks the {exc.claim!r} claim.") from None
        except jwt.PyJWTError as exc:
            for error_type, reason, description in _JWT_ERRORS:
                if isinstance(exc, error_type):
                    raise TokenRejected(reason, description) from None
            raise TokenRejected(Reason.MALFORMED, "The token's claims could not be read.") from None

    def _check_expiry(self, claims: Mapping[str, Any]) -> None:
        """`exp` must be a finite number of seconds, no later than the year 9999, and not past (with the leeway)."""
        exp = claims["exp"]
        if isinstance(exp, bool) or not isinstance(exp, int | float) or not 0 <= exp <= MAX_EXP:  # NaN fails too
            raise TokenRejected(Reason.MALFORMED, "The token's exp claim is not a time (seconds since 1970).")
        if exp + self.policy.leeway <= time.time():
            raise TokenRejected(Reason.EXPIRED, "The token has expired; get a new one.")

    def _check_origin(self, claims: Mapping[str, Any]) -> None:
        """Tenant first (the more useful message), then the exact issuer for that tenant and token version."""
        metadata = self.keys.metadata
        if claims.get("tid") != metadata.tenant_id:
            accepted = metadata.tenant_id
            raise TokenRejected(
                Reason.OTHER_TENANT, f"The token was issued in another tenant; this server accepts {accepted}."
            )
        issuers = self.policy.issuers(metadata.tenant_id)
        if claims.get("iss") not in issuers:
            hint = ""
            if claims.get("iss") == f"https://sts.windows.net/{metadata.tenant_id}/":
                hint = (
                    " v1.0 tokens are refused: set accessTokenAcceptedVersion to 2 in the server app's manifest,"
                    " or ENTRA_ACCEPT_V1_TOKENS=true."
                )
            raise TokenRejected(Reason.WRONG_ISSUER, f"The token was not issued by {', '.join(issuers)}.{hint}")

    def _access_token(self, token: str, claims: dict[str, Any]) -> AccessToken:
        # v2 tokens name the client in azp, v1 tokens in appid.
        client_id = claims.get("azp") or claims.get("appid")
        if not isinstance(client_id, str):
            raise TokenRejected(Reason.MALFORMED, "The token names no client (azp/appid).")
        audience = claims.get("aud")
        return AccessToken(
            token=token,
            client_id=client_id,
            scopes=self.policy.scopes_for(claims),
            # The SDK's bearer backend refuses a token past `expires_at` with no skew allowance; report the moment
            # this verifier stops accepting it, or a token in its last leeway seconds would pass here, fail there.
            expires_at=int(claims["exp"] + self.policy.leeway),
            resource=audience if isinstance(audience, str) else None,
            subject=str(claims["sub"]),
            claims=claims,
        )

    async def start(self) -> None:
        """Fetch the keys now (at server start) so the first request does not wait for them. Never raises: an
        unreachable authority is logged and retried on demand, it does not stop the server from starting."""
        await self.keys.refresh()

    async def aclose(self) -> None:
        await self.keys.aclose()
