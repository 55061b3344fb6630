"""Phase 3 smoke: an app-only token from Entra ID (MSAL client credentials), then the protected server with it.

Settings, from the environment or a `.env` file (searched from the current directory upwards, or --env-file):
  ENTRA_TENANT_ID, ENTRA_CLIENT_ID, ENTRA_CLIENT_SECRET  the client app registration and its tenant
  SERVER_APP_ID_URI                                      the server app's App ID URI (api://<guid>); asks <uri>/.default
  PRYNAI_MCP_URL                                         e.g. http://127.0.0.1:8000/mcp or https://127.0.0.1:8443/mcp
  ENTRA_AUTHORITY                                        default https://login.microsoftonline.com (a stand-in's URL)

uv run python examples/smoke_oauth_cc.py [--wire modern|legacy] [--env-file PATH]
Prints TOOLS: [...], ADD RESULT: 15, STATUS: ok. A refused token prints the server's reason (see README,
"Authentication": the common 401 causes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import httpx2
from _wire import MODES, load_env, run
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from prynai_mcp.auth.client_credentials import TokenUnavailable, acquire_token

REQUIRED = ("ENTRA_TENANT_ID", "ENTRA_CLIENT_ID", "ENTRA_CLIENT_SECRET", "SERVER_APP_ID_URI", "PRYNAI_MCP_URL")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--wire", choices=sorted(MODES), default="modern", help="protocol wire (default modern)")
    parser.add_argument("--env-file", help="dotenv file to load (default: .env found from the current directory up)")
    args = parser.parse_args()
    load_env(parser, args.env_file, REQUIRED)
    return args


def acquire() -> str:
    try:
        return acquire_token()
    except TokenUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None


def _contains(error: BaseException, kind: type[BaseException]) -> bool:
    if isinstance(error, BaseExceptionGroup):
        return any(_contains(inner, kind) for inner in error.exceptions)
    return isinstance(error, kind)


def main(args: argparse.Namespace, token: str) -> None:
    refusals: list[str] = []

    async def remember_refusal(response: httpx2.Response) -> None:
        # The SDK turns a 401/403 into a generic error; the reason is in WWW-Authenticate.
        if response.status_code in (401, 403):
            refusals.append(f"{response.status_code} {response.headers.get('www-authenticate', '')}")

    async def session() -> None:
        http = httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx2.Timeout(30, read=300),
            event_hooks={"response": [remember_refusal]},
        )
        try:
            async with (
                http,
                Client(
                    streamable_http_client(os.environ["PRYNAI_MCP_URL"], http_client=http), mode=MODES[args.wire]
                ) as mcp,
            ):
                print("TOOLS:", [tool.name for tool in (await mcp.list_tools()).tools])
                added = await mcp.call_tool("add", {"a": 7, "b": 8})
                print("ADD RESULT:", added.content[0].text)  # type: ignore[union-attr]
                status = await mcp.read_resource("prynai://status")
                print("STATUS:", json.loads(status.contents[0].text)["status"])  # type: ignore[union-attr]
        except Exception as error:  # the SDK may wrap it in an ExceptionGroup
            if not refusals or not _contains(error, MCPError):
                raise
            print(f"error: the server refused the token: {refusals[-1]}", file=sys.stderr)
            raise SystemExit(1) from None

    run(session)


if __name__ == "__main__":
    arguments = parse_args()
    main(arguments, acquire())
