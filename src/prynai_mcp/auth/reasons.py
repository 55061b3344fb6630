"""Why a bearer token was refused, in words a client can act on.

Each refusal carries a `Reason` and a description that goes into the 401 body and the `WWW-Authenticate` header.
Descriptions name what this server expects (its audiences, its tenant: public facts, also in the RFC 9728
document) but never echo the token or any of its claim values.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    WRONG_AUDIENCE = "wrong_audience"
    WRONG_ISSUER = "wrong_issuer"
    OTHER_TENANT = "other_tenant"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    MALFORMED = "malformed"
    OVERSIZED = "oversized"


class TokenRejected(Exception):
    """The token is not acceptable: answer 401 `invalid_token` with `description`."""

    def __init__(self, reason: Reason, description: str) -> None:
        super().__init__(f"{reason}: {description}")
        self.reason = reason
        self.description = description


class AuthorityUnavailable(Exception):
    """The authority's signing keys could not be obtained: nothing can be verified (answer 503, not 401)."""
