"""The state and rules of the local Entra stand-in: tenants, app registrations, signing keys, tokens.

No HTTP here (see `app.py`): tests call `mint()` to forge any token they need, the token endpoint calls `issue()`.
Tokens have Entra's shape: the v2 application token claims (`aud` = the server app's client id, `iss`, `tid`,
`azp`, `azpacr`, `idtyp`, `oid`, `sub`, `roles`, `ver`, `iat`/`nbf`/`exp`, ...), or v1 ones (`aud` = App ID URI,
`iss` = `https://sts.windows.net/{tid}/`, `appid`) for a resource that asks for v1 tokens. Errors from the token
endpoint use Entra's JSON (`error`, `error_description` starting with an AADSTS code, `error_codes`).
All methods are thread-safe: the HTTP server runs in its own thread while a test rotates keys or mints.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

RESERVED_SCOPES = {"openid", "profile", "offline_access"}
TOKEN_LIFETIME = 3599


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_uint(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class SigningKey:
    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @cached_property
    def kid(self) -> str:
        # Entra's kid is the base64url SHA-1 thumbprint of the key's certificate; a thumbprint of the key is as unique.
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return _b64url(hashlib.sha1(der, usedforsecurity=False).digest())

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self, issuer: str) -> dict[str, Any]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
            "issuer": issuer,
        }


@dataclass(frozen=True)
class ResourceApp:
    """The server app registration: the API that tokens are for."""

    app_id: str
    app_id_uri: str
    app_roles: tuple[str, ...]
    token_version: int = 2  # accessTokenAcceptedVersion


@dataclass(frozen=True)
class ClientApp:
    """A client app registration with a secret and the application permissions (app roles) granted to it."""

    client_id: str
    secret: str
    tenant_id: str
    object_id: str  # its service principal: `oid` and `sub` of its tokens
    roles: tuple[str, ...] = ()


@dataclass
class StandInAuthority:
    tenant_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    domain: str = "prynai-standin.onmicrosoft.com"
    base_url: str = "https://127.0.0.1"  # set by the runner once the port is known; no trailing slash
    resource: ResourceApp = field(
        default_factory=lambda: _resource_app(str(uuid.uuid4()), roles=("Mcp.Invoke", "Mcp.Write"))
    )
    clients: dict[str, ClientApp] = field(default_factory=dict)
    keys: list[SigningKey] = field(default_factory=lambda: [SigningKey.generate()])
    requests: Counter[str] = field(default_factory=Counter)
    # Called after keys or registrations change (the CLI saves its state there, so a restart keeps them).
    on_change: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._tenants = {self.tenant_id}

    # --- registrations -------------------------------------------------------------------------------------

    def add_client(
        self, *, roles: Iterable[str] = ("Mcp.Invoke",), tenant_id: str | None = None, secret: str | None = None
    ) -> ClientApp:
        """Register a client app (in the home tenant unless told) granted `roles` on the server app."""
        client = ClientApp(
            client_id=str(uuid.uuid4()),
            secret=secret or secrets.token_urlsafe(24),
            tenant_id=tenant_id or self.tenant_id,
            object_id=str(uuid.uuid4()),
            roles=tuple(roles),
        )
        with self._lock:
            self.clients[client.client_id] = client
            self._tenants.add(client.tenant_id)
        self._changed()
        return client

    def resolve_tenant(self, segment: str) -> str | None:
        """The tenant GUID a URL path segment names (its GUID or, for the home tenant, its domain)."""
        if segment.lower() == self.domain:
            return self.tenant_id
        with self._lock:
            return segment if segment in self._tenants else None

    # --- keys ----------------------------------------------------------------------------------------------

    @property
    def kids(self) -> list[str]:
        with self._lock:
            return [key.kid for key in self.keys]

    @property
    def active_kid(self) -> str:
        with self._lock:
            return self.keys[-1].kid

    def rotate(self, *, retire_previous: bool = False) -> str:
        """Publish a new key and sign with it from now on; optionally withdraw every older key."""
        key = SigningKey.generate()
        with self._lock:
            if retire_previous:
                self.keys.clear()
            self.keys.append(key)
        self._changed()
        return key.kid

    def remove_key(self, kid: str) -> None:
        with self._lock:
            remaining = [key for key in self.keys if key.kid != kid]
            if len(remaining) == len(self.keys):
                raise KeyError(kid)
            if not remaining:
                raise ValueError("cannot remove the only signing key: rotate first")
            self.keys[:] = remaining
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def key(self, kid: str | None = None) -> SigningKey:
        with self._lock:
            if kid is None:
                return self.keys[-1]
            return next(key for key in self.keys if key.kid == kid)

    # --- protocol documents --------------------------------------------------------------------------------

    def issuer(self, tenant_id: str, version: int = 2) -> str:
        if version == 1:
            return f"https://sts.windows.net/{tenant_id}/"
        return f"{self.base_url}/{tenant_id}/v2.0"

    def discovery(self, tenant_id: str) -> dict[str, Any]:
        base = f"{self.base_url}/{tenant_id}"
        return {
            "issuer": self.issuer(tenant_id),
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "grant_types_supported": ["client_credentials"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "tenant_region_scope": "NA",
            "cloud_instance_name": "standin.local",
        }

    def jwks(self, tenant_id: str) -> dict[str, Any]:
        with self._lock:
            keys = list(self.keys)
        return {"keys": [key.jwk(self.issuer(tenant_id)) for key in keys]}

    def count(self, kind: str) -> int:
        with self._lock:
            return self.requests[kind]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.requests)

    def record(self, kind: str) -> None:
        with self._lock:
            self.requests[kind] += 1

    # --- tokens --------------------------------------------------------------------------------------------

    def claims(
        self,
        client: ClientApp | None = None,
        *,
        tenant_id: str | None = None,
        version: int | None = None,
        scp: str | None = None,
        lifetime: int = TOKEN_LIFETIME,
        now: float | None = None,
    ) -> dict[str, Any]:
        """The claims Entra puts in an access token for `client` calling the server app.

        With `scp`, a delegated token (a user signed in to `client`) instead of an application token.
        """
        client = client or self.default_client()
        tenant_id = tenant_id or client.tenant_id
        version = version or self.resource.token_version
        issued = int(now if now is not None else time.time())
        claims: dict[str, Any] = {
            "aud": self.resource.app_id if version == 2 else self.resource.app_id_uri,
            "iss": self.issuer(tenant_id, version),
            "iat": issued,
            "nbf": issued,
            "exp": issued + lifetime,
            "aio": _b64url(secrets.token_bytes(24)),
            "oid": client.object_id,
            "rh": _b64url(secrets.token_bytes(16)),
            "sub": client.object_id,
            "tid": tenant_id,
            "uti": _b64url(secrets.token_bytes(12)),
            "ver": f"{version}.0",
        }
        if version == 2:
            claims.update(azp=client.client_id, azpacr="1")
        else:
            claims.update(appid=client.client_id, appidacr="1")
        if scp is not None:
            user = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant_id}/user"))
            claims.update(scp=scp, oid=user, sub=_b64url(hashlib.sha256(f"{user}{client.client_id}".encode()).digest()))
            claims.update(name="Stand-in User", preferred_username=f"user@{self.domain}")
        else:
            claims["idtyp"] = "app"
            if client.roles:
                claims["roles"] = list(client.roles)
        return claims

    def mint(
        self,
        client: ClientApp | None = None,
        *,
        claims: Mapping[str, Any] | None = None,
        drop: Iterable[str] = (),
        kid: str | None = None,
        header: Mapping[str, Any] | None = None,
        **shape: Any,
    ) -> str:
        """A signed token: `claims(client, **shape)`, then `claims` overrides and `drop`ped names.

        `kid` picks a published key to sign with (default: the active one); `header` overrides header fields
        after signing-key selection (e.g. a `kid` the authority does not publish).
        """
        payload = self.claims(client, **shape)
        payload.update(claims or {})
        for name in drop:
            payload.pop(name, None)
        key = self.key(kid)
        headers = {"kid": key.kid, "x5t": key.kid, **(header or {})}
        return jwt.encode(payload, key.private_key, algorithm="RS256", headers=headers)

    def default_client(self) -> ClientApp:
        with self._lock:
            home = [c for c in self.clients.values() if c.tenant_id == self.tenant_id]
        return home[0] if home else self.add_client()

    def issue(
        self, tenant_segment: str, form: Mapping[str, str], basic: tuple[str, str] | None
    ) -> tuple[int, dict[str, Any]]:
        """The v2 token endpoint for client credentials: (status, JSON body)."""
        tenant_id = self.resolve_tenant(tenant_segment)
        if tenant_id is None:
            return entra_error(400, "invalid_request", 90002, f"Tenant '{tenant_segment}' not found.")
        if form.get("grant_type") != "client_credentials":
            return entra_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        with self._lock:
            client = self.clients.get(client_id)
        if client is None or client.tenant_id != tenant_id:
            return entra_error(
                400, "unauthorized_client", 700016, f"Application with identifier '{client_id}' was not found."
            )
        if not hmac.compare_digest(client.secret.encode(), secret.encode()):
            return entra_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        scopes = [s for s in form.get("scope", "").split() if s not in RESERVED_SCOPES]
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            return entra_error(
                400,
                "invalid_scope",
                1002012,
                "Client credential flows must have one scope value with /.default suffixed to the resource identifier.",
            )
        resource = scopes[0].removesuffix("/.default")
        if resource not in (self.resource.app_id, self.resource.app_id_uri):
            return entra_error(
                400, "invalid_resource", 500011, f"The resource principal named {resource} was not found."
            )
        token = self.mint(client, tenant_id=tenant_id)
        return 200, {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "ext_expires_in": TOKEN_LIFETIME,
            "access_token": token,
        }


def _resource_app(app_id: str, *, roles: Iterable[str], token_version: int = 2) -> ResourceApp:
    return ResourceApp(app_id=app_id, app_id_uri=f"api://{app_id}", app_roles=tuple(roles), token_version=token_version)


def entra_error(status: int, error: str, code: int, message: str) -> tuple[int, dict[str, Any]]:
    trace = str(uuid.uuid4())
    return status, {
        "error": error,
        "error_description": f"AADSTS{code}: {message} Trace ID: {trace}",
        "error_codes": [code],
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
        "trace_id": trace,
        "correlation_id": str(uuid.uuid4()),
    }
