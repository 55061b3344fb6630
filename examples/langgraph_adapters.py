# /// script
# requires-python = ">=3.12"
# dependencies = [
#     "langchain-mcp-adapters==0.3.2",
#     "mcp==1.30.0",  # the adapters need mcp<2: the session-based SDK, so this script has an environment of its own
#     "httpx==0.28.1",
#     "langgraph==1.2.24",
#     "langchain==1.5.2",
#     "langchain-core==1.8.3",
#     "langchain-openai==1.7.4",
#     "langsmith==0.15.1",
#     "msal==1.39.0",
#     "python-dotenv==1.2.4",
# ]
# ///
"""Phase 5 on the session-based wire: the same LangGraph agent as langgraph_smoke.py, through
`langchain-mcp-adapters` (what most deployed LangGraph services use), with an Entra ID client-credentials token that
renews itself, traced to LangSmith when tracing is on.

The adapters need `mcp` < 2, the server's environment has `mcp` 2: this is a script with its own pinned
dependencies (the header above), run by uv in an environment of its own:

uv run examples/langgraph_adapters.py [--env-file PATH]

Settings are langgraph_smoke.py's (PRYNAI_MCP_URL, ENTRA_*, SERVER_APP_ID_URI, AZURE_OPENAI_* / OPENAI_API_KEY,
LANGSMITH_*), from the environment or a `.env` file. Prints the same lines: TOOLS: [...],
TOOL CALL: add {"a": 7, "b": 8} -> 15, ANSWER: ..., and with tracing on LANGSMITH RUN: <id>.
"""

from __future__ import annotations

import httpx
from _agent import EntraBearer, Settings, main, run_agent
from langchain_mcp_adapters.client import MultiServerMCPClient
from mcp.shared.exceptions import McpError


class EntraAuth(EntraBearer, httpx.Auth):
    """`httpx.Auth` (what the `mcp` 1 SDK uses) with a renewing Entra ID token."""


async def run(settings: Settings, auth: EntraAuth) -> None:
    # Each tool call opens a session of its own (initialize, the call, DELETE): a long-running agent never holds a
    # session that could expire between two questions. Every request of it gets the token of the moment.
    client = MultiServerMCPClient({"prynai": {"transport": "streamable_http", "url": settings.url, "auth": auth}})
    tools = await client.get_tools(server_name="prynai")
    await run_agent(tools, settings, wire="2025-11-25")


if __name__ == "__main__":
    main(
        (__doc__ or "").splitlines()[0],
        run,
        EntraAuth,
        unreachable=(httpx.TransportError,),
        protocol_errors=(McpError,),
    )
