"""Phase 5 smoke: a LangGraph agent calls PrynAI MCP's tools through `langchain.mcp` over the 2026-07-28 wire, with
an Entra ID client-credentials token that renews itself, traced to LangSmith when tracing is on.

Settings, from the environment or a `.env` file (searched from the current directory upwards, or --env-file):
  PRYNAI_MCP_URL                                  default http://127.0.0.1:8000/mcp
  ENTRA_TENANT_ID, ENTRA_CLIENT_ID, ENTRA_CLIENT_SECRET, SERVER_APP_ID_URI
                                                  the client app, its tenant and the server app; none: connect open
  ENTRA_AUTHORITY                                 default https://login.microsoftonline.com (the local stand-in's URL)
  AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY, AZURE_OPENAI_DEPLOYMENT, OPENAI_API_VERSION
                                                  Azure OpenAI; or OPENAI_API_KEY (and PRYNAI_OPENAI_MODEL) for OpenAI;
                                                  neither: a scripted model that asks for add(7, 8)
  LANGSMITH_TRACING=true, LANGSMITH_API_KEY, LANGSMITH_PROJECT, LANGSMITH_ENDPOINT (optional)

uv run python examples/langgraph_smoke.py [--env-file PATH]
Prints TOOLS: [...], TOOL CALL: add {"a": 7, "b": 8} -> 15, ANSWER: ..., and with tracing on LANGSMITH RUN: <id>.
The same agent on the session-based wire, through langchain-mcp-adapters: examples/langgraph_adapters.py.
"""

from __future__ import annotations

import warnings

from langchain_core._api import LangChainBetaWarning

# langchain.mcp is beta and says so on import; the example chose it knowingly.
warnings.filterwarnings("ignore", category=LangChainBetaWarning)

import httpx2  # noqa: E402
from _agent import EntraBearer, Settings, main, run_agent  # noqa: E402
from fastmcp.client import Client  # noqa: E402
from fastmcp.client.transports import StreamableHttpTransport  # noqa: E402
from langchain.mcp import MCPAdapter  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402


class EntraAuth(EntraBearer, httpx2.Auth):
    """`httpx2.Auth` (what FastMCP and the `mcp` 2 SDK use) with a renewing Entra ID token."""


async def run(settings: Settings, auth: EntraAuth) -> None:
    # mode "2026-07-28": no handshake and no session; every request carries its own protocol version and token.
    client = Client(StreamableHttpTransport(settings.url, auth=auth), mode="2026-07-28")
    async with MCPAdapter(client) as adapter:
        tools = await adapter.list_tools()
        await run_agent(tools, settings, wire="2026-07-28")


if __name__ == "__main__":
    main(
        (__doc__ or "").splitlines()[0],
        run,
        EntraAuth,
        unreachable=(httpx2.TransportError,),
        protocol_errors=(MCPError,),
    )
