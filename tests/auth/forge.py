"""Hand-built JWTs that no honest library would produce: what an attacker sends."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def payload_of(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return decoded


def unsigned(claims: dict[str, Any], kid: str) -> str:
    """`alg: none`: no signature at all."""
    return f"{_segment({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_segment(claims)}."


def hs256_with_public_key(claims: dict[str, Any], public_pem: bytes, kid: str) -> str:
    """The algorithm-confusion attack: HMAC-sign with the (public) RSA key as the shared secret."""
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{_segment(claims)}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def tampered(token: str, **changes: Any) -> str:
    """Same header and signature, edited payload."""
    header, _, signature = token.split(".")
    return f"{header}.{_segment({**payload_of(token), **changes})}.{signature}"


def with_header(token: str, **changes: Any) -> str:
    """`token` with its header changed (values PyJWT itself would not encode, such as a non-string kid); the
    signature no longer matches, which matters only to checks made after the header's."""
    header, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    decoded.update(changes)
    return ".".join([_segment(decoded), payload, signature])


def signed_payload(payload: bytes, private_key: Any, kid: str) -> str:
    """RS256-signed with the authority's own key over `payload` exactly as given: JSON that no encoder writes from
    Python values (`1e400`, a 400-digit number), which a verifier must still refuse cleanly."""
    return jwt.api_jws.PyJWS().encode(payload, private_key, algorithm="RS256", headers={"kid": kid, "typ": "JWT"})
