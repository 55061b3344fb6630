"""The authority's signing keys: OIDC discovery, the JWKS, a cache, and a rate-limited refetch.

Entra rolls its signing keys and publishes a new one before signing with it, so a token naming a key we have not
seen means "refetch": but at most once per `refetch_interval`, or a stream of tokens naming made-up `kid`s would
turn this server into a load generator against the authority. Every fetch is async (httpx2) and single-flight:
concurrent callers wait for the one fetch under way instead of starting their own. The key set is also refreshed
after `max_age`, which is how a key the authority withdrew stops being trusted.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2
from jwt import PyJWK
from jwt.exceptions import InvalidKeyError, PyJWKError

from prynai_mcp.auth.reasons import AuthorityUnavailable

logger = logging.getLogger(__name__)

# Entra signs access tokens with RS256 only; the key objects are built for it.
KEY_ALGORITHM = "RS256"


def discovery_url(authority: str, tenant: str) -> str:
    return f"{authority.rstrip('/')}/{tenant}/v2.0/.well-known/openid-configuration"


def _require_https(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"{what} must be an https URL, got {url!r}")
    return url


@dataclass(frozen=True)
class AuthorityMetadata:
    """What the verifier needs from the OIDC discovery document."""

    issuer: str  # {authority}/{tenant-guid}/v2.0
    tenant_id: str  # the tenant GUID, from the issuer (ENTRA_TENANT_ID may be a domain name)
    jwks_uri: str


def parse_metadata(document: Mapping[str, Any], authority: str) -> AuthorityMetadata:
    """Check the discovery document belongs to `authority` and names one tenant (not `common`/`organizations`)."""
    issuer, jwks_uri = document.get("issuer"), document.get("jwks_uri")
    if not isinstance(issuer, str) or not isinstance(jwks_uri, str):
        raise ValueError("discovery document lacks issuer or jwks_uri")
    prefix = authority.rstrip("/") + "/"
    tenant_id = issuer.removeprefix(prefix).removesuffix("/v2.0")
    if not issuer.startswith(prefix) or not issuer.endswith("/v2.0") or "/" in tenant_id or "{" in tenant_id:
        raise ValueError(f"discovery issuer {issuer!r} is not a single tenant of {authority}")
    return AuthorityMetadata(issuer=issuer, tenant_id=tenant_id, jwks_uri=_require_https(jwks_uri, "jwks_uri"))


def parse_jwks(document: Mapping[str, Any]) -> dict[str, PyJWK]:
    """RSA signing keys by `kid`; keys of other types or uses are skipped, not fatal."""
    keys: dict[str, PyJWK] = {}
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise ValueError("JWKS has no keys list")
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str):
            continue
        try:
            keys[kid] = PyJWK(entry, algorithm=KEY_ALGORITHM)
        except (PyJWKError, InvalidKeyError):  # PyJWT raises the latter for an RSA key without its numbers
            logger.warning("skipping unusable JWKS key", extra={"event": "jwks_bad_key", "kid": kid})
    return keys


class SigningKeys:
    """The key set of one Entra tenant, fetched lazily and kept fresh."""

    def __init__(
        self,
        authority: str,
        tenant: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        refetch_interval: float = 60.0,
        retry_interval: float = 5.0,
        max_age: float = 3600.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.authority = _require_https(authority.rstrip("/"), "ENTRA_AUTHORITY")
        self.discovery_url = discovery_url(self.authority, tenant)
        # None: the default trust store, which honours SSL_CERT_FILE (how a local CA is usually added).
        self._verify: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._refetch_interval = refetch_interval
        self._retry_interval = retry_interval
        self._max_age = max_age
        self._timeout = timeout
        self._clock = clock
        self._client: httpx2.AsyncClient | None = None
        self._lock = asyncio.Lock()
        self._metadata: AuthorityMetadata | None = None
        self._rediscover = True  # fetch the discovery document again on the next fetch (first time, after a failure)
        self._keys: dict[str, PyJWK] | None = None
        self._fetched_at = 0.0
        self._next_fetch_at = float("-inf")
        self._generation = 0  # bumped by every fetch attempt, so waiters know one happened while they waited
        self.version = 0  # bumped when the published key set changes: results verified under an older one expire
        self.fetch_attempts = 0

    @property
    def metadata(self) -> AuthorityMetadata:
        if self._metadata is None:
            raise AuthorityUnavailable("the authority's discovery document has not been fetched")
        return self._metadata

    async def current_version(self) -> int:
        """The version of the key set, refreshed first if it is older than `max_age` (or was never fetched)."""
        if self._keys is None or self._clock() - self._fetched_at > self._max_age:
            await self.refresh()
        return self.version

    async def key(self, kid: str) -> PyJWK | None:
        """The key named `kid`, or None when the authority does not publish it (after at most one refetch).

        Raises `AuthorityUnavailable` when no key set could ever be fetched.
        """
        await self.current_version()
        if self._keys is None:
            raise AuthorityUnavailable("the authority's signing keys could not be fetched")
        key = self._keys.get(kid)
        if key is None:
            await self.refresh()
            key = self._keys.get(kid)
        return key

    async def refresh(self) -> None:
        """Fetch the key set unless another caller just did, or the rate limit says not yet."""
        seen = self._generation
        async with self._lock:
            if self._generation != seen or self._clock() < self._next_fetch_at:
                return
            self._generation += 1
            self.fetch_attempts += 1
            try:
                metadata = self._metadata
                if metadata is None or self._rediscover:
                    metadata = parse_metadata(await self._get_json(self.discovery_url), self.authority)
                keys = parse_jwks(await self._get_json(metadata.jwks_uri))
            except (httpx2.HTTPError, ValueError) as exc:
                # Keep the keys we have (the authority may be briefly down); retry soon, not on every request.
                self._rediscover = True
                self._next_fetch_at = self._clock() + self._retry_interval
                logger.warning(
                    "could not fetch the authority's signing keys",
                    extra={"event": "jwks_fetch_failed", "url": self.discovery_url, "error": str(exc)},
                )
                return
            if self._keys is None or set(keys) != set(self._keys):
                self.version += 1
            self._metadata, self._keys, self._rediscover = metadata, keys, False
            self._fetched_at = self._clock()
            self._next_fetch_at = self._fetched_at + self._refetch_interval
            logger.info("fetched signing keys", extra={"event": "jwks_fetched", "kids": sorted(keys)})

    async def _get_json(self, url: str) -> dict[str, Any]:
        if self._client is None:
            self._client = httpx2.AsyncClient(verify=self._verify, timeout=self._timeout, follow_redirects=False)
        response = await self._client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError(f"{url} did not return a JSON object")
        return document

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
