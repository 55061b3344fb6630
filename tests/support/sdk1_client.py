# /// script
# requires-python = ">=3.12"
# dependencies = ["mcp==1.30.0"]  # the 1.x SDK, as langchain-mcp-adapters uses it: it needs an environment of its own
# ///
"""Call `long_task` with the 1.x MCP SDK (session-based wire) and print what the client saw, one line each:
`PROTOCOL <version>`, `PROGRESS <steps seen, comma separated>`, `RESULT <text>`.

Usage: uv run tests/support/sdk1_client.py URL STEPS DELAY_SECONDS
"""

import asyncio
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client


async def main(url: str, steps: int, delay: float) -> None:
    seen: list[float] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen.append(value)

    async with streamablehttp_client(url) as (read, write, _), ClientSession(read, write) as session:
        initialized = await session.initialize()
        print("PROTOCOL", initialized.protocolVersion, flush=True)
        result = await session.call_tool(
            "long_task", {"steps": steps, "delay_seconds": delay}, progress_callback=progress
        )
    print("PROGRESS", ",".join(str(int(step)) for step in seen))
    print("RESULT", result.content[0].text)  # type: ignore[union-attr]


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
