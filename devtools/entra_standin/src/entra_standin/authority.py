"""The state and rules of the local Entra stand-in: tenants, app registrations, signing keys, tokens.

No HTTP here (see `app.py`): tests call `mint()` to forge any token they need, the token endpoint calls `issue()`,
the authorization endpoint `authorize()` (delegated sign-in of the demo user, in `delegated.py`).
Tokens have Entra's shape: the v2 application token claims (`aud` = the server app's client id, `iss`, `tid`,
`azp`, `azpacr`, `idtyp`, `oid`, `sub`, `roles`, `ver`, `iat`/`nbf`/`exp`, ...), v2 user tokens (`scp`, the user's
`oid`, a pairwise `sub`, `name`, `preferred_username`), or v1 ones (`aud` = App ID URI,
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

from entra_standin.delegated import (
    CODE_LIFETIME,
    REFRESH_TOKEN_LIFETIME,
    DemoUser,
    ErrorPage,
    PublicClientApp,
    Redirect,
)
from entra_standin.errors import entra_error
from entra_standin.grants import DelegatedGrants

RESERVED_SCOPES = {"openid", "profile", "offline_access"}
TOKEN_LIFETIME = 3599
DEFAULT_DOMAIN = "prynai-standin.onmicrosoft.com"
DELEGATED_SCOPES = ("Mcp.Invoke", "Mcp.Write")  # what the server app exposes to users ("Expose an API")


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
    scopes: tuple[str, ...] = DELEGATED_SCOPES  # delegated permissions it exposes (short names)


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
    domain: str = DEFAULT_DOMAIN
    base_url: str = "https://127.0.0.1"  # set by the runner once the port is known; no trailing slash
    resource: ResourceApp = field(
        default_factory=lambda: _resource_app(str(uuid.uuid4()), roles=("Mcp.Invoke", "Mcp.Write"))
    )
    clients: dict[str, ClientApp] = field(default_factory=dict)
    public_clients: dict[str, PublicClientApp] = field(default_factory=dict)
    user: DemoUser = field(default_factory=lambda: DemoUser(str(uuid.uuid4()), f"user@{DEFAULT_DOMAIN}"))
    keys: list[SigningKey] = field(default_factory=lambda: [SigningKey.generate()])
    requests: Counter[str] = field(default_factory=Counter)
    failing: Counter[str] = field(default_factory=Counter)  # requests of a kind to answer 503, as an outage would
    # Lifetime of client-credentials tokens; tests shorten it to see renewal without waiting an hour.
    app_token_lifetime: int = TOKEN_LIFETIME
    # Lifetimes of what delegated sign-in hands out; tests shorten them to see expiry without waiting an hour.
    code_lifetime: float = CODE_LIFETIME
    user_token_lifetime: int = TOKEN_LIFETIME
    refresh_token_lifetime: int = REFRESH_TOKEN_LIFETIME
    grants: DelegatedGrants = field(default_factory=DelegatedGrants, repr=False, compare=False)
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

    def add_public_client(
        self,
        *,
        redirect_uris: Iterable[str] = ("http://localhost",),
        permissions: Iterable[str] = ("Mcp.Invoke",),
        tenant_id: str | None = None,
    ) -> PublicClientApp:
        """Register a public client (mobile & desktop platform) with delegated `permissions` on the server app."""
        client = PublicClientApp(
            client_id=str(uuid.uuid4()),
            tenant_id=tenant_id or self.tenant_id,
            redirect_uris=tuple(redirect_uris),
            permissions=tuple(permissions),
        )
        with self._lock:
            self.public_clients[client.client_id] = client
            self._tenants.add(client.tenant_id)
        self._changed()
        return client

    def public_client(self, client_id: str) -> PublicClientApp | None:
        with self._lock:
            return self.public_clients.get(client_id)

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
            "response_modes_supported": ["query"],  # Entra also offers fragment and form_post; the stand-in does not
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token"],
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

    def record(self, kind: str) -> bool:
        """Count a request of `kind`; False when it is to fail (see `fail_next`)."""
        with self._lock:
            self.requests[kind] += 1
            if self.failing[kind] > 0:
                self.failing[kind] -= 1
                return False
            return True

    def fail_next(self, kind: str, times: int = 1) -> None:
        """Answer the next `times` requests of `kind` ("discovery", "jwks", "token", ...) with 503."""
        with self._lock:
            self.failing[kind] += times

    # --- tokens --------------------------------------------------------------------------------------------

    def _envelope(self, tenant_id: str, version: int, lifetime: int, now: float | None) -> dict[str, Any]:
        """The claims every access token for the server app has, whoever it was issued to."""
        issued = int(now if now is not None else time.time())
        return {
            "aud": self.resource.app_id if version == 2 else self.resource.app_id_uri,
            "iss": self.issuer(tenant_id, version),
            "iat": issued,
            "nbf": issued,
            "exp": issued + lifetime,
            "aio": _b64url(secrets.token_bytes(24)),
            "rh": _b64url(secrets.token_bytes(16)),
            "tid": tenant_id,
            "uti": _b64url(secrets.token_bytes(12)),
            "ver": f"{version}.0",
        }

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

        With `scp`, a delegated token (the demo user signed in to `client`) instead of an application token.
        """
        client = client or self.default_client()
        tenant_id = tenant_id or client.tenant_id
        version = version or self.resource.token_version
        if scp is not None:
            return self.user_claims(
                client.client_id, scp, tenant_id=tenant_id, version=version, lifetime=lifetime, now=now, public=False
            )
        claims = self._envelope(tenant_id, version, lifetime, now)
        claims.update(oid=client.object_id, sub=client.object_id, idtyp="app")
        if version == 2:
            claims.update(azp=client.client_id, azpacr="1")
        else:
            claims.update(appid=client.client_id, appidacr="1")
        if client.roles:
            claims["roles"] = list(client.roles)
        return claims

    def user_claims(
        self,
        client_id: str,
        scp: str,
        *,
        tenant_id: str,
        version: int | None = None,
        lifetime: int = TOKEN_LIFETIME,
        now: float | None = None,
        public: bool = True,
    ) -> dict[str, Any]:
        """A delegated token's claims: the demo user, signed in to `client_id`, granted `scp` (short names)."""
        version = version or self.resource.token_version
        claims = self._envelope(tenant_id, version, lifetime, now)
        # `sub` is pairwise (one value per user and client); `oid` is the user everywhere in the tenant.
        sub = _b64url(hashlib.sha256(f"{self.user.object_id}{client_id}".encode()).digest())
        claims.update(scp=scp, oid=self.user.object_id, sub=sub, name=self.user.name)
        claims["preferred_username"] = self.user.username
        # azpacr/appidacr: how the client proved itself; "0" is a public client, which proves nothing.
        proof = "0" if public else "1"
        if version == 2:
            claims.update(azp=client_id, azpacr=proof)
        else:
            claims.update(appid=client_id, appidacr=proof)
        return claims

    def sign(self, payload: Mapping[str, Any], kid: str | None = None, header: Mapping[str, Any] | None = None) -> str:
        """`payload` as a JWT signed with a published key (default: the active one), as Entra signs."""
        key = self.key(kid)
        headers = {"kid": key.kid, "x5t": key.kid, **(header or {})}
        return jwt.encode(dict(payload), key.private_key, algorithm="RS256", headers=headers)

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
        return self.sign(payload, kid, header)

    def default_client(self) -> ClientApp:
        with self._lock:
            home = [c for c in self.clients.values() if c.tenant_id == self.tenant_id]
        return home[0] if home else self.add_client()

    def authorize(self, tenant_segment: str, params: Mapping[str, str]) -> Redirect | ErrorPage:
        """The v2 authorization endpoint (authorization code + PKCE); signs the demo user in without a page."""
        return self.grants.authorize(self, tenant_segment, params)

    def issue(
        self, tenant_segment: str, form: Mapping[str, str], basic: tuple[str, str] | None
    ) -> tuple[int, dict[str, Any]]:
        """The v2 token endpoint: (status, JSON body)."""
        tenant_id = self.resolve_tenant(tenant_segment)
        if tenant_id is None:
            return entra_error(400, "invalid_request", 90002, f"Tenant '{tenant_segment}' not found.")
        grant_type = form.get("grant_type", "")
        self.record(f"grant:{grant_type}")
        if grant_type in ("authorization_code", "refresh_token"):
            return self.grants.redeem(self, tenant_id, form, basic)
        if grant_type != "client_credentials":
            return entra_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        return self._client_credentials(tenant_id, form, basic)

    def _client_credentials(
        self, tenant_id: str, form: Mapping[str, str], basic: tuple[str, str] | None
    ) -> tuple[int, dict[str, Any]]:
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
        if form.get("resource", resource) not in (self.resource.app_id, self.resource.app_id_uri):
            # As for delegated tokens (delegated.py): an RFC 8707 `resource` must name the scope's app.
            return entra_error(
                400,
                "invalid_target",
                9010010,
                "The resource parameter provided in the request doesn't match with the requested scopes.",
            )
        lifetime = self.app_token_lifetime
        token = self.mint(client, tenant_id=tenant_id, lifetime=lifetime)
        return 200, {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }


def _resource_app(app_id: str, *, roles: Iterable[str], token_version: int = 2) -> ResourceApp:
    return ResourceApp(app_id=app_id, app_id_uri=f"api://{app_id}", app_roles=tuple(roles), token_version=token_version)
