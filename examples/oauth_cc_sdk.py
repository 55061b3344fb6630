"""Client credentials with the MCP SDK's own provider (no MSAL): the SDK finds Entra through the server's metadata,
gets an app-only token for `<SERVER_APP_ID_URI>/.default`, and renews it by itself when it expires.

Settings, from the environment or a `.env` file (searched from the current directory upwards, or --env-file):
  ENTRA_TENANT_ID, ENTRA_CLIENT_ID, ENTRA_CLIENT_SECRET  the client app registration and its tenant
  SERVER_APP_ID_URI                                      the server app's App ID URI (api://<guid>); asks <uri>/.default
  PRYNAI_MCP_URL                                         e.g. http://127.0.0.1:8000/mcp or https://127.0.0.1:8443/mcp
  ENTRA_AUTHORITY                                        default https://login.microsoftonline.com (a stand-in's URL)

uv run python examples/oauth_cc_sdk.py [--wire modern|legacy] [--env-file PATH]
Prints TOOLS: [...], ADD RESULT: 15, STATUS: ok, as examples/smoke_oauth_cc.py (the MSAL version) does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import httpx2
from _wire import MODES, find_error, load_env, run
from mcp.client import Client
from mcp.client.auth import OAuthFlowError, OAuthTokenError
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthToken
from mcp.shared.exceptions import MCPError

from prynai_mcp.auth.client_credentials import DEFAULT_AUTHORITY
from prynai_mcp.auth.entra_client import EntraTokenRequests

REQUIRED = ("ENTRA_TENANT_ID", "ENTRA_CLIENT_ID", "ENTRA_CLIENT_SECRET", "SERVER_APP_ID_URI", "PRYNAI_MCP_URL")
FAILURES = (OAuthFlowError, OAuthTokenError, MCPError)


class MemoryTokens:
    """The SDK's `TokenStorage`, in memory: a service gets a fresh token on each start, nothing touches the disk."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> None:
        return None  # the provider brings its own (client id and secret)

    async def set_client_info(self, client_info: object) -> None:
        pass


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--wire", choices=sorted(MODES), default="modern", help="protocol wire (default modern)")
    parser.add_argument("--env-file", help="dotenv file to load (default: .env found from the current directory up)")
    args = parser.parse_args()
    load_env(parser, args.env_file, REQUIRED)
    return args


def main(args: argparse.Namespace) -> None:
    url = os.environ["PRYNAI_MCP_URL"]
    authority = os.environ.get("ENTRA_AUTHORITY", DEFAULT_AUTHORITY).rstrip("/")
    refusals: list[str] = []

    async def remember_refusal(response: httpx2.Response) -> None:
        if response.status_code in (401, 403):
            refusals.append(f"{response.status_code} {response.headers.get('www-authenticate', '')}")

    async def session() -> None:
        provider = ClientCredentialsOAuthProvider(
            server_url=url,
            storage=MemoryTokens(),
            client_id=os.environ["ENTRA_CLIENT_ID"],
            client_secret=os.environ["ENTRA_CLIENT_SECRET"],
            token_endpoint_auth_method="client_secret_post",
            # The secret goes only to this tenant's authority, whatever the server's metadata says.
            issuer=f"{authority}/{os.environ['ENTRA_TENANT_ID']}/v2.0",
        )
        # Entra wants `<App ID URI>/.default` and no `resource`; the SDK would send the server's advertised
        # (delegated) scopes and its URL. See prynai_mcp.auth.entra_client.
        scope = os.environ["SERVER_APP_ID_URI"].rstrip("/") + "/.default"
        http = httpx2.AsyncClient(
            auth=provider,
            transport=EntraTokenRequests(authority, client_credentials_scope=scope),
            timeout=httpx2.Timeout(30, read=300),
            event_hooks={"response": [remember_refusal]},
        )
        async with http, Client(streamable_http_client(url, http_client=http), mode=MODES[args.wire]) as mcp:
            print("TOOLS:", [tool.name for tool in (await mcp.list_tools()).tools])
            added = await mcp.call_tool("add", {"a": 7, "b": 8})
            print("ADD RESULT:", added.content[0].text)  # type: ignore[union-attr]
            status = await mcp.read_resource("prynai://status")
            print("STATUS:", json.loads(status.contents[0].text)["status"])  # type: ignore[union-attr]

    try:
        run(session)
    except BaseException as error:
        failure = find_error(error, FAILURES)
        if failure is None:
            raise
        reason = f"the server refused the token: {refusals[-1]}" if isinstance(failure, MCPError) and refusals else ""
        print(f"error: {reason or failure}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main(parse_args())
