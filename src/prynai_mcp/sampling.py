"""Asking the client's LLM, written once for both wires, and a deterministic sampler for clients under test.

`ask_client_llm` is a resolver: on the session-based wire it sends `sampling/createMessage` on the open stream;
on the 2026-07-28 wire the SDK returns an `InputRequiredResult` and resumes when the client retries (MRTR). A client
that did not declare sampling gets `None`, and one whose sampling answered with an error gets `SamplingRefused`, so the
tool answers plainly ("sampling unavailable", with the client's reason) instead of failing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mcp.client import ClientRequestContext
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Sample
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp_types import (
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResult,
    SamplingMessage,
    TextContent,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

logger = logging.getLogger(__name__)

SAMPLING_UNAVAILABLE = "sampling unavailable"
MOCK_PREFIX = "MOCK:"
# The reason is the client's text, shown to a model and written to the log: one line, short.
MAX_REASON_CHARS = 200


@dataclass(frozen=True)
class SamplingRefused:
    """The client declared sampling, but its answer to our request was an error; `reason` is its message."""

    reason: str


async def ask_client_llm(text: str, ctx: Context) -> Sample | CreateMessageResult | SamplingRefused | None:
    """Sample a one-paragraph summary of `text`; None when the client cannot sample, `SamplingRefused` when it
    declined or its sampling failed."""
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.sampling is None:
        return None
    prompt = f"Summarize the following text in one short paragraph.\n\n{text}"
    request = Sample(
        [SamplingMessage(role="user", content=TextContent(type="text", text=prompt))],
        max_tokens=256,
        system_prompt="You are a concise technical summarizer.",
    )
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        # MRTR: the SDK asks with an InputRequiredResult. A client that refuses has nothing to retry with
        # (inputResponses carry results only), so its refusal ends in the client and never comes back here.
        return request
    # Session-based wire: given the Sample, the SDK would send this same request but let the client's error escape
    # and fail the whole call as a JSON-RPC error. Sending it here is what lets a refusal become the tool's answer.
    try:
        sampled: CreateMessageResult = await ctx.session.send_request(
            CreateMessageRequest(params=request.params),
            CreateMessageResult,
            metadata=ServerMessageMetadata(related_request_id=ctx.request_id),
        )
    except MCPError as refused:
        reason = " ".join(refused.error.message.split())[:MAX_REASON_CHARS] or f"error {refused.error.code}"
        # A client's choice, not a fault of ours: INFO, and never the prompt (it is the caller's text).
        logger.info(
            "the client's sampling answered with an error",
            extra={"event": "sampling_refused", "code": refused.error.code, "reason": reason},
        )
        return SamplingRefused(reason)
    return sampled


def sampled_text(result: CreateMessageResult | SamplingRefused | None) -> str:
    """The text a sampling result carries, or the plain fallback answer (with the client's reason, if it gave one)."""
    if result is None:
        return SAMPLING_UNAVAILABLE
    if isinstance(result, SamplingRefused):
        return f"{SAMPLING_UNAVAILABLE}: {result.reason}"
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
