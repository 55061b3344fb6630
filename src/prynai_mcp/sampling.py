"""Asking the client's LLM, written once for both wires, and a deterministic sampler for clients under test.

`ask_client_llm` is a resolver: on the session-based wire the SDK sends `sampling/createMessage` on the open stream;
on the 2026-07-28 wire it returns an `InputRequiredResult` and resumes when the client retries (MRTR). A client that
did not declare sampling gets `None`, so the tool can answer plainly instead of failing.
"""

from __future__ import annotations

from mcp.client import ClientRequestContext
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Sample
from mcp_types import (
    CreateMessageRequestParams,
    CreateMessageResult,
    SamplingMessage,
    TextContent,
)

SAMPLING_UNAVAILABLE = "sampling unavailable"
MOCK_PREFIX = "MOCK:"


async def ask_client_llm(text: str, ctx: Context) -> Sample | None:
    """Sample a one-paragraph summary of `text`, or None when the client cannot sample."""
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.sampling is None:
        return None
    prompt = f"Summarize the following text in one short paragraph.\n\n{text}"
    return Sample(
        [SamplingMessage(role="user", content=TextContent(type="text", text=prompt))],
        max_tokens=256,
        system_prompt="You are a concise technical summarizer.",
    )


def sampled_text(result: CreateMessageResult | None) -> str:
    """The text a sampling result carries, or the plain fallback answer."""
    if result is None:
        return SAMPLING_UNAVAILABLE
    content = result.content
    if isinstance(content, TextContent):
        return content.text
    return f"[{content.type} content]"


async def mock_sampler(context: ClientRequestContext, params: CreateMessageRequestParams) -> CreateMessageResult:
    """A client-side sampling callback that answers without an LLM: `MOCK:` plus the last user text, trimmed.

    Deterministic, so tests and examples can assert on its output.
    """
    text = ""
    for message in reversed(params.messages):
        if message.role == "user" and isinstance(message.content, TextContent):
            text = message.content.text
            break
    body = text.rsplit("\n\n", 1)[-1].strip()
    return CreateMessageResult(
        role="assistant",
        content=TextContent(type="text", text=f"{MOCK_PREFIX}{body[:120]}"),
        model="prynai-mock-sampler",
        stop_reason="endTurn",
    )
