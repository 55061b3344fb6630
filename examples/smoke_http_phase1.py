"""Phase 1 smoke: the shared counter, the structured prompt, and sampling through a client-side sampler.

    uv run python examples/smoke_http_phase1.py [--wire modern|legacy] [--url URL] [--no-sampler]

With the default deterministic mock sampler the summary starts with `MOCK:`; with --no-sampler the server answers
"sampling unavailable".
"""

from __future__ import annotations

import argparse

from _wire import MODES, parse_args, run
from mcp.client import Client

from prynai_mcp.sampling import mock_sampler


async def read_counter(mcp: Client) -> int:
    return int((await mcp.read_resource("prynai://counter")).contents[0].text)  # type: ignore[union-attr]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-sampler", action="store_true", help="connect without a sampling callback")
    args = parse_args(__doc__ or "", parser)
    sampler = None if args.no_sampler else mock_sampler
    async with Client(args.url, mode=MODES[args.wire], sampling_callback=sampler) as mcp:
        print("RESOURCES:", [str(resource.uri) for resource in (await mcp.list_resources()).resources])

        print("COUNTER:", await read_counter(mcp))
        await mcp.call_tool("bump_counter", {})
        await mcp.call_tool("bump_counter", {})
        print("COUNTER_AFTER:", await read_counter(mcp))

        prompt = await mcp.get_prompt(
            "quick_summary", {"title": "MCP Phase 1", "text": "Subscriptions, prompts and sampling work end to end."}
        )
        print("PROMPT TEXT:", prompt.messages[0].content.text)  # type: ignore[union-attr]

        summary = await mcp.call_tool("summarize_via_client_llm", {"text": "Phase 1 adds the shared counter."})
        print("SAMPLING RESULT:", summary.content[0].text)  # type: ignore[union-attr]


if __name__ == "__main__":
    run(main)
