"""What this server demands of a token beyond a good signature: audience, tenant, issuer, scopes or app roles.

Entra issues two kinds of access token. Delegated tokens (a user signed in to a client) carry `scp`, a
space-separated list of short scope names. Application tokens (client credentials) carry no `scp`; their
permissions are the app roles in `roles`. Each kind is held to the requirement meant for it:

- delegated: every `ENTRA_REQUIRED_SCOPES` in `scp`;
- application: every `ENTRA_REQUIRED_APP_ROLES` in `roles`.

When only one of the two is configured it applies to both kinds (fail closed): an application token can never
hold a delegated scope, so requiring scopes alone shuts applications out, and the 403 says which setting to add.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

DEFAULT_LEEWAY = 60.0  # seconds of clock skew tolerated on exp/nbf/iat: small, Entra's clocks are good
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_guid(value: str) -> bool:
    return bool(_GUID.match(value))


def short_name(scope: str) -> str:
    """`api://app/Mcp.Invoke` -> `Mcp.Invoke`; short names pass through (tokens carry short names in `scp`)."""
    return scope.rsplit("/", 1)[-1]


def app_id_uri_of(audiences: Sequence[str]) -> str:
    """The App ID URI that prefixes this API's full scope names: the first audience that is not a bare GUID,
    else `api://{guid}` (Entra's default App ID URI)."""
    for audience in audiences:
        if not is_guid(audience):
            return audience.rstrip("/")
    if audiences:
        return f"api://{audiences[0]}"
    raise ValueError("ENTRA_AUDIENCES is empty: name the server app's client id and/or its App ID URI")


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def is_delegated(claims: Mapping[str, Any]) -> bool:
    return bool(_names(claims.get("scp")))


def granted(claims: Mapping[str, Any]) -> list[str]:
    """The permission names a token carries: its scopes when delegated, else its app roles."""
    return _names(claims.get("scp")) if is_delegated(claims) else _names(claims.get("roles"))


def roles_of(claims: Mapping[str, Any]) -> list[str]:
    return _names(claims.get("roles"))


@dataclass(frozen=True)
class Missing:
    """What an authenticated token lacks: answer 403 `insufficient_scope`."""

    kind: Literal["scope", "app role"]
    names: tuple[str, ...]
    hint: str = ""

    @property
    def description(self) -> str:
        plural = "s" if len(self.names) > 1 else ""
        text = f"Missing {self.kind}{plural}: {', '.join(self.names)}"
        return f"{text}. {self.hint}" if self.hint else text


@dataclass(frozen=True)
class EntraPolicy:
    authority: str  # https://login.microsoftonline.com, no trailing slash
    tenant: str  # ENTRA_TENANT_ID as configured: a GUID or a verified domain name
    audiences: tuple[str, ...]
    app_id_uri: str
    required_scopes: tuple[str, ...] = ()  # short names
    required_roles: tuple[str, ...] = ()
    accept_v1: bool = False
    leeway: float = DEFAULT_LEEWAY
    algorithms: tuple[str, ...] = ("RS256",)  # asymmetric only: never "none", never HMAC

    @classmethod
    def create(
        cls,
        *,
        authority: str,
        tenant: str,
        audiences: Iterable[str],
        required_scopes: Iterable[str] = (),
        required_roles: Iterable[str] = (),
        accept_v1: bool = False,
        leeway: float = DEFAULT_LEEWAY,
    ) -> EntraPolicy:
        if not tenant or tenant.lower() in ("common", "organizations", "consumers"):
            raise ValueError("ENTRA_TENANT_ID must name one tenant (a GUID or its domain name)")
        audiences = tuple(a.strip() for a in audiences if a.strip())
        return cls(
            authority=authority.rstrip("/"),
            tenant=tenant,
            audiences=audiences,
            app_id_uri=app_id_uri_of(audiences),
            required_scopes=tuple(short_name(s) for s in required_scopes),
            required_roles=tuple(required_roles),
            accept_v1=accept_v1,
            leeway=leeway,
        )

    @property
    def issuer_url(self) -> str:
        """The v2 authority clients sign in with (RFC 9728 `authorization_servers`)."""
        return f"{self.authority}/{self.tenant}/v2.0"

    def full_scope(self, name: str) -> str:
        return f"{self.app_id_uri}/{name}"

    @property
    def required_scope_uris(self) -> list[str]:
        return [self.full_scope(name) for name in self.required_scopes]

    def issuers(self, tenant_id: str) -> dict[str, str]:
        """Accepted `iss` values for the tenant GUID, with the token version each means."""
        accepted = {f"{self.authority}/{tenant_id}/v2.0": "2.0"}
        if self.accept_v1:
            accepted[f"https://sts.windows.net/{tenant_id}/"] = "1.0"
        return accepted

    def missing(self, claims: Mapping[str, Any]) -> Missing | None:
        """The scopes or app roles `claims` lack under this policy (module docstring), or None."""
        if is_delegated(claims):
            if self.required_scopes:
                return _lacking("scope", self.required_scopes, _names(claims.get("scp")))
            return _lacking("app role", self.required_roles, roles_of(claims))
        if self.required_roles:
            return _lacking("app role", self.required_roles, roles_of(claims))
        hint = "Application tokens carry app roles, not scopes: set ENTRA_REQUIRED_APP_ROLES to admit applications."
        return _lacking("scope", self.required_scopes, [], hint)

    def scopes_for(self, claims: Mapping[str, Any]) -> list[str]:
        """`AccessToken.scopes`: the granted names, short and full (`api://.../Name`).

        The SDK refuses any token whose scopes lack `AuthSettings.required_scopes` (the full delegated scope names
        it also advertises in RFC 9728). An application token cannot hold delegated scopes; when its app roles meet
        this policy, they are its grant of the same access, so it is given the required names too.
        """
        names = granted(claims)
        scopes = names + [self.full_scope(name) for name in names]
        if not is_delegated(claims) and self.missing(claims) is None:
            scopes += self.required_scope_uris
        return list(dict.fromkeys(scopes))


def _lacking(
    kind: Literal["scope", "app role"], required: Sequence[str], present: Sequence[str], hint: str = ""
) -> Missing | None:
    absent = tuple(name for name in required if name not in present)
    return Missing(kind, absent, hint) if absent else None
