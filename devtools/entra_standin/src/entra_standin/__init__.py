"""A local Microsoft Entra ID stand-in for tests and demos: OIDC discovery, JWKS, the v2 token endpoint (client
credentials; authorization code with PKCE and refresh tokens for public clients), the v2 authorization endpoint
(signs a demo user in without a page), and key rotation, over real HTTPS with a throwaway CA. MSAL obtains tokens
from it unmodified.

Tests: `with running_standin() as standin: ...` (in-process, background thread). Demos:
`uv run python -m entra_standin` (foreground; writes the env to use). Needs the dev dependency trustme:
the stand-in is never imported by the server itself.
"""

from entra_standin.authority import ClientApp, ResourceApp, SigningKey, StandInAuthority
from entra_standin.delegated import DemoUser, PublicClientApp
from entra_standin.runner import RunningStandIn, running_standin
from entra_standin.tls import TlsFiles, make_tls_files

__all__ = [
    "ClientApp",
    "DemoUser",
    "PublicClientApp",
    "ResourceApp",
    "RunningStandIn",
    "SigningKey",
    "StandInAuthority",
    "TlsFiles",
    "make_tls_files",
    "running_standin",
]
