"""Redis authentication with Microsoft Entra ID through the replica's managed identity (Azure Managed Redis).

With `PRYNAI_REDIS_AUTH=entra`, no password is configured anywhere: the replica asks its managed identity for a
token for `https://redis.azure.com` (on Azure Container Apps through `IDENTITY_ENDPOINT`/`IDENTITY_HEADER`, which
MSAL's managed-identity client reads) and authenticates as the identity's object id with the token as password.
`redis-entraid` renews the token at 70% of its life and re-authenticates every open connection with it, so no
connection outlives its token. `AZURE_CLIENT_ID` picks a user-assigned identity; without it, the system-assigned one.
Entry: `managed_identity_credentials(client_id)`, given to `RedisStore`.
"""

from __future__ import annotations

from redis.credentials import CredentialProvider

# redis-entraid ships no type information.
from redis_entraid.cred_provider import create_from_managed_identity  # type: ignore[import-untyped]
from redis_entraid.identity_provider import ManagedIdentityIdType, ManagedIdentityType  # type: ignore[import-untyped]

REDIS_RESOURCE = "https://redis.azure.com"


def managed_identity_credentials(client_id: str = "") -> CredentialProvider:
    """A credential provider for the replica's managed identity (user-assigned when `client_id` is given)."""
    provider: CredentialProvider
    if client_id:
        provider = create_from_managed_identity(
            identity_type=ManagedIdentityType.USER_ASSIGNED,
            resource=REDIS_RESOURCE,
            id_type=ManagedIdentityIdType.CLIENT_ID,
            id_value=client_id,
        )
    else:
        provider = create_from_managed_identity(
            identity_type=ManagedIdentityType.SYSTEM_ASSIGNED, resource=REDIS_RESOURCE
        )
    return provider


def auth_description(mode: str, client_id: str = "") -> str:
    """How the replica authenticates, for logs: never a secret."""
    if mode != "entra":
        return ""
    return f"entra (managed identity {client_id})" if client_id else "entra (system-assigned managed identity)"
