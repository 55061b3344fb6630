"""Phase 0 smoke: list the surface, read the status, call add and long_task, try sampling without a sampler.

uv run python examples/smoke_http.py [--wire modern|legacy] [--url URL]   (URL default: $PRYNAI_MCP_URL)
"""

from __future__ import annotations

import json

from _wire import MODES, parse_args, run
from mcp.client import Client


async def main() -> None:
    args = parse_args(__doc__ or "")
    async with Client(args.url, mode=MODES[args.wire]) as mcp:
        print("TOOLS:", [tool.name for tool in (await mcp.list_tools()).tools])
        print("RESOURCES:", [str(resource.uri) for resource in (await mcp.list_resources()).resources])
        print("PROMPTS:", [prompt.name for prompt in (await mcp.list_prompts()).prompts])

        status = json.loads((await mcp.read_resource("prynai://status")).contents[0].text)  # type: ignore[union-attr]
        print("STATUS:", status["status"])

        added = await mcp.call_tool("add", {"a": 2, "b": 3})
        print("ADD RESULT:", added.content[0].text)  # type: ignore[union-attr]

        done = await mcp.call_tool("long_task", {"steps": 3, "delay_seconds": 0.05})
        print("LONG_TASK:", done.content[0].text)  # type: ignore[union-attr]

        summary = await mcp.call_tool("summarize_via_client_llm", {"text": "PrynAI MCP phase 0"})
        print("SAMPLING:", summary.content[0].text)  # type: ignore[union-attr]


if __name__ == "__main__":
    run(main)
