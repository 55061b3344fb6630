"""Interactive sign-in (authorization code + PKCE, refresh token) with the MCP SDK's OAuthClientProvider, then the
protected server with the user's token: what VS Code or a desktop agent does.

Settings, from the environment or a `.env` file (searched from the current directory upwards, or --env-file):
  ENTRA_TENANT_ID         the tenant of the app registrations
  ENTRA_PUBLIC_CLIENT_ID  the public client app (Mobile and desktop applications, redirect URI http://localhost)
  PRYNAI_MCP_URL          e.g. http://127.0.0.1:8000/mcp or https://127.0.0.1:8443/mcp
  ENTRA_AUTHORITY         default https://login.microsoftonline.com (a stand-in's URL)
  PRYNAI_REDIRECT_PORT    loopback port for the redirect (default: any free port; Entra ignores it)

uv run python examples/oauth_interactive.py [--wire modern|legacy] [--show-refresh] [--no-browser] [--token-cache F]
The scope comes from the server's metadata (RFC 9728), no token is pasted anywhere. Prints TOOLS: [...],
ADD RESULT: 15, STATUS: ok; with --show-refresh it then lets the access token lapse, calls once more and prints
REFRESHED: yes when the refresh token brought a new access token without a second sign-in.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import httpx2
from _signin import LoopbackCallback, SignInFailed, SignInPage, TokenStore
from _wire import MODES, find_error, load_env, run
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider, OAuthFlowError, OAuthRegistrationError, OAuthTokenError
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata
from mcp.shared.exceptions import MCPError

from prynai_mcp.auth.client_credentials import DEFAULT_AUTHORITY
from prynai_mcp.auth.entra_client import EntraTokenRequests

REQUIRED = ("ENTRA_TENANT_ID", "ENTRA_PUBLIC_CLIENT_ID", "PRYNAI_MCP_URL")
FAILURES = (SignInFailed, OAuthFlowError, OAuthTokenError, OAuthRegistrationError, MCPError)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--wire", choices=sorted(MODES), default="modern", help="protocol wire (default modern)")
    parser.add_argument("--env-file", help="dotenv file to load (default: .env found from the current directory up)")
    parser.add_argument("--show-refresh", action="store_true", help="force one token refresh and report it")
    parser.add_argument(
        "--no-browser",
        action="store_true",
        help="follow the sign-in redirect over HTTP instead of opening a browser (only for an authority that signs "
        "in without a page: the local stand-in)",
    )
    parser.add_argument(
        "--token-cache", type=Path, help="keep tokens (a refresh token is a secret) in this file between runs"
    )
    args = parser.parse_args()
    load_env(parser, args.env_file, REQUIRED)
    return args


def main(args: argparse.Namespace) -> None:
    url = os.environ["PRYNAI_MCP_URL"]
    authority = os.environ.get("ENTRA_AUTHORITY", DEFAULT_AUTHORITY).rstrip("/")
    refusals: list[str] = []
    refreshed: list[bool] = []

    async def remember_refusal(response: httpx2.Response) -> None:
        # The first 401 starts the sign-in; a refusal after it is the server's reason, in WWW-Authenticate.
        if response.status_code in (401, 403):
            refusals.append(f"{response.status_code} {response.headers.get('www-authenticate', '')}")

    async def session() -> None:
        with LoopbackCallback(int(os.environ.get("PRYNAI_REDIRECT_PORT") or 0)) as callback:
            client = OAuthClientInformationFull(
                client_id=os.environ["ENTRA_PUBLIC_CLIENT_ID"],
                redirect_uris=[callback.redirect_uri],  # pydantic parses the str
                token_endpoint_auth_method="none",  # a public client: PKCE instead of a secret
                grant_types=["authorization_code", "refresh_token"],
                # Binds the client id to the tenant: if the server's metadata named another authority, the SDK
                # would drop it rather than present it there.
                issuer=f"{authority}/{os.environ['ENTRA_TENANT_ID']}/v2.0",
            )
            store = TokenStore(client, args.token_cache)
            page = SignInPage(follow=args.no_browser)
            provider = OAuthClientProvider(
                server_url=url,
                client_metadata=OAuthClientMetadata(
                    redirect_uris=client.redirect_uris, token_endpoint_auth_method="none", client_name="PrynAI MCP"
                ),
                storage=store,
                redirect_handler=page,
                callback_handler=callback.result,
            )
            store.attach(provider)
            http = httpx2.AsyncClient(
                auth=provider,
                transport=EntraTokenRequests(authority),  # drops `resource`, which Entra v2 refuses
                timeout=httpx2.Timeout(30, read=300),
                event_hooks={"response": [remember_refusal]},
            )
            async with (
                http,
                Client(streamable_http_client(url, http_client=http), mode=MODES[args.wire]) as mcp,
            ):
                print("TOOLS:", [tool.name for tool in (await mcp.list_tools()).tools])
                added = await mcp.call_tool("add", {"a": 7, "b": 8})
                print("ADD RESULT:", added.content[0].text)  # type: ignore[union-attr]
                status = await mcp.read_resource("prynai://status")
                print("STATUS:", json.loads(status.contents[0].text)["status"])  # type: ignore[union-attr]
                if args.show_refresh:
                    held = await store.get_tokens()
                    sign_ins = page.visits
                    # mcp 2.3 keeps the expiry on the provider's context; in the past, the next call refreshes first.
                    provider.context.token_expiry_time = time.time() - 1
                    await mcp.list_tools()
                    now = await store.get_tokens()
                    renewed = held is not None and now is not None and now.access_token != held.access_token
                    refreshed.append(renewed and page.visits == sign_ins)
                    print("REFRESHED:", "yes" if refreshed[0] else "no")

    try:
        run(session)
    except BaseException as error:
        failure = find_error(error, FAILURES)
        if failure is None:
            raise
        reason = f"the server refused the token: {refusals[-1]}" if isinstance(failure, MCPError) and refusals else ""
        print(f"error: {reason or failure}", file=sys.stderr)
        raise SystemExit(1) from None
    if refreshed and not refreshed[0]:
        print("error: no refresh without a new sign-in (was offline_access granted?)", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main(parse_args())
