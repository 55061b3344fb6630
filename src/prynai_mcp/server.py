"""The PrynAI MCP surface: every tool, resource, prompt and completion the server offers, and nothing else.

`python -m prynai_mcp.server` serves it on http://127.0.0.1:8000/mcp (see `prynai_mcp.cli` for every option).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.prompts.base import Message, UserMessage
from mcp.server.mcpserver.resolve import Resolve
from mcp_types import (
    Completion,
    CompletionArgument,
    CompletionContext,
    CreateMessageResult,
    PromptReference,
    ResourceTemplateReference,
    ToolAnnotations,
)
from pydantic import Field

from prynai_mcp.sampling import SamplingRefused, ask_client_llm, sampled_text
from prynai_mcp.services import SERVER_NAME, VERSION, Services

COUNTER_URI = "prynai://counter"
COUNTER_NAME = "counter"
SUMMARY_STYLES = ["formal", "casual", "technical", "executive", "bullet-points"]
GREETING_NAMES = ["world", "PrynAI", "Ada", "Grace", "Linus", "Margaret"]

CompletionHandler = Callable[
    [PromptReference | ResourceTemplateReference, CompletionArgument, CompletionContext | None], Completion | None
]
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


def build_server(
    services: Services, *, extra_completion: CompletionHandler | None = None, **options: Any
) -> MCPServer[Any]:
    """The MCPServer with the PrynAI surface; `options` go to the MCPServer constructor (auth, security).

    `extra_completion` answers completions for references the surface does not own (the conformance fixture's).
    """
    mcp: MCPServer[Any] = MCPServer(
        SERVER_NAME,
        title="PrynAI MCP",
        description="Self-hosted production MCP server",
        instructions="Tools: add, echo, long_task, summarize_via_client_llm, bump_counter.",
        version=VERSION,
        subscriptions=services.changes,
        **options,
    )

    # --- tools --------------------------------------------------------------------------------------------------

    @mcp.tool(title="Add two numbers", description="Return a + b.", annotations=READ_ONLY)
    def add(a: int, b: int) -> int:
        return a + b

    @mcp.tool(title="Echo", description="Return the text unchanged.", annotations=READ_ONLY)
    def echo(text: str) -> str:
        return text

    @mcp.tool(
        title="Long-running task",
        description="Work through `steps` steps, reporting progress and a log line for each; returns 'done'.",
        annotations=READ_ONLY,
    )
    async def long_task(
        ctx: Context,
        steps: Annotated[int, Field(ge=1, le=1000, description="How many steps to run")] = 5,
        delay_seconds: Annotated[float, Field(ge=0, le=60, description="Pause between steps")] = 0.1,
    ) -> str:
        log = await services.sessions.client_logger(ctx)  # the session's level, read once: see client_logger
        for step in range(1, steps + 1):
            await anyio.sleep(delay_seconds)
            await ctx.report_progress(step, steps, f"step {step}/{steps}")
            await log("info", f"long_task step {step}/{steps}")
        return "done"

    @mcp.tool(
        title="Summarize with the client's LLM",
        description="Ask the client's model (MCP sampling) to summarize the text; "
        "answers 'sampling unavailable' when the client cannot sample, "
        "and 'sampling unavailable: <the client's reason>' when its sampling declined or failed.",
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=True),
    )
    async def summarize_via_client_llm(
        text: str, summary: Annotated[CreateMessageResult | SamplingRefused | None, Resolve(ask_client_llm)]
    ) -> str:
        return sampled_text(summary)

    @mcp.tool(
        title="Bump the shared counter",
        description="Add `by` to the shared counter, notify subscribers of prynai://counter, return the new value.",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False),
    )
    async def bump_counter(by: int = 1) -> int:
        async with services.changes.changing(COUNTER_URI):
            return await services.backend.counter_add(COUNTER_NAME, by)

    # --- resources ----------------------------------------------------------------------------------------------

    @mcp.resource(
        "prynai://status",
        title="Server status",
        description="Status, version, build, environment, backend and uptime, as JSON.",
        mime_type="application/json",
    )
    async def status() -> str:
        settings = services.settings
        return json.dumps(
            {
                "status": "ok",
                "version": VERSION,
                "build": settings.prynai_build,
                "environment": settings.prynai_env,
                "backend": services.backend.name,
                "uptime_seconds": services.uptime_seconds(),
            }
        )

    @mcp.resource(
        COUNTER_URI,
        title="Shared counter",
        description="The shared counter's value; subscribe to hear when bump_counter changes it.",
        mime_type="text/plain",
    )
    async def counter() -> str:
        return str(await services.backend.counter_get(COUNTER_NAME))

    @mcp.resource(
        "hello://{name}",
        title="Greeting",
        description="A greeting for `name`.",
        mime_type="text/plain",
    )
    def hello(name: str) -> str:
        return f"Hello, {name}!"

    # --- prompts ------------------------------------------------------------------------------------------------

    @mcp.prompt(title="Quick summary", description="Ask for a concise summary of a document in a chosen style.")
    def quick_summary(
        title: Annotated[str, Field(description="The document's title")],
        text: Annotated[str, Field(description="The document's text")],
        style: Annotated[str, Field(description="Summary style: " + ", ".join(SUMMARY_STYLES))] = "formal",
    ) -> list[Message]:
        return [
            UserMessage(f"Write a concise, {style} summary. Document title: {title}"),
            UserMessage(text),
        ]

    # --- completions --------------------------------------------------------------------------------------------

    @mcp.completion()  # type: ignore[no-untyped-call, untyped-decorator]  # the SDK leaves it untyped
    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        if extra_completion is not None and (extra := extra_completion(ref, argument, context)) is not None:
            return extra
        if isinstance(ref, PromptReference) and ref.name == "quick_summary" and argument.name == "style":
            return _complete_from(SUMMARY_STYLES, argument.value)
        if isinstance(ref, ResourceTemplateReference) and ref.uri == "hello://{name}" and argument.name == "name":
            return _complete_from(GREETING_NAMES, argument.value)
        return None

    services.sessions.install(mcp)
    return mcp


def _complete_from(values: list[str], prefix: str) -> Completion:
    matches = [value for value in values if value.lower().startswith(prefix.lower())]
    return Completion(values=matches, total=len(matches), has_more=False)


if __name__ == "__main__":
    import sys

    from prynai_mcp.cli import main

    # `python -m prynai_mcp.server` is `prynai-mcp serve`; its options (and --help) are serve's.
    raise SystemExit(main(["serve", *sys.argv[1:]]))
