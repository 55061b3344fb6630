"""The conformance fixture: the `test_*` tools, `test://` resources and `test_*` prompts that the official MCP
conformance suite (npm `@modelcontextprotocol/conformance`) calls by name.

Off unless asked for (`prynai-mcp serve --conformance`, or `PRYNAI_CONFORMANCE=1`). It is added beside the PrynAI
surface, not instead of it, so the suite measures our real transport, sessions, CORS and auth stack on both wires.
Entry is `register_conformance_fixture(mcp)`; everything is registered through `MCPServer`'s public API. One tool,
whose inputSchema is hand-written JSON Schema 2020-12, can only be given at construction: `MCPServer(tools=
conformance_tools())`. It is optional; without it only the unscored `json-schema-2020-12` scenario fails.

What the SDK allows only once per server stays with the PrynAI surface, which must:
- call `conformance_completion(ref, argument, context)` first from its `@mcp.completion()` handler and use its
  answer when it is not None (scenario `completion-complete` asks for `test_prompt_with_arguments` / `arg1`);
- answer legacy `resources/subscribe` and `resources/unsubscribe` for `test://watched-resource` with `{}`, and
  `logging/setLevel` with `{}` (scenarios `resources-subscribe`, `resources-unsubscribe`, `logging-set-level`).

Tools that need the client (sampling, elicitation) use resolvers (`Resolve`), so one body serves both wires: a
back-channel request on the legacy wire, an `InputRequiredResult` round on the modern one. The
`test_input_required_result_*` tools instead drive the round trips by hand, because the suite checks their exact
`inputRequests` keys and `requestState` echoes.

The tool and prompt functions are named as the suite calls them (`test_*`): import the module, not those names, into
a test module, or pytest collects them as tests.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import (
    Context,
    Elicit,
    ElicitationResult,
    MCPServer,
    Resolve,
    Sample,
    UserMessage,
)
from mcp.server.mcpserver.tools import Tool
from mcp.shared.exceptions import MCPError
from mcp.types import (
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    AudioContent,
    Completion,
    CompletionArgument,
    CompletionContext,
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    EmbeddedResource,
    ImageContent,
    InputRequest,
    InputRequiredResult,
    ListRootsRequest,
    ListRootsResult,
    PromptReference,
    ResourceTemplateReference,
    SamplingMessage,
    TextContent,
    TextResourceContents,
)
from pydantic import BaseModel, Field

# A 1x1 PNG and a tiny WAV: the suite checks type and MIME type, not the pixels.
PNG_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
WAV_BASE64 = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="

TEMPLATE_URI = "test://template/{id}/data"
WATCHED_URI = "test://watched-resource"

_PROMPT_ARGUMENT_VALUES = ("alpha", "beta", "gamma", "test", "testing")
_TEMPLATE_ID_VALUES = ("1", "42", "123")


def _text(text: str) -> TextContent:
    return TextContent(type="text", text=text)


def _png() -> ImageContent:
    return ImageContent(type="image", data=PNG_BASE64, mime_type="image/png")


def _ask_form(message: str, *fields: str) -> ElicitRequest:
    """A form elicitation for a few required string fields, as the MRTR scenarios phrase theirs."""
    schema = {
        "type": "object",
        "properties": {field: {"type": "string"} for field in fields},
        "required": list(fields),
    }
    return ElicitRequest(params=ElicitRequestFormParams(message=message, requested_schema=schema))


def _ask_confirmation() -> ElicitRequest:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    return ElicitRequest(params=ElicitRequestFormParams(message="Please confirm", requested_schema=schema))


def _ask_model(text: str, max_tokens: int) -> CreateMessageRequest:
    message = SamplingMessage(role="user", content=_text(text))
    return CreateMessageRequest(params=CreateMessageRequestParams(messages=[message], max_tokens=max_tokens))


def _elicited_field(answer: object, field: str) -> str | None:
    if isinstance(answer, ElicitResult) and answer.content:
        value = answer.content.get(field)
        return None if value is None else str(value)
    return None


# Elicitation schemas. Field names and enum values are the ones the scenarios' mock clients answer with.


class ContactDetails(BaseModel):
    username: str = Field(description="User's response")
    email: str = Field(description="User's email address")


class ProfileWithDefaults(BaseModel):
    """SEP-1034: a default for every primitive type."""

    name: str = Field(default="John Doe", description="User name")
    age: int = Field(default=30, description="User age")
    score: float = Field(default=95.5, description="User score")
    status: Literal["active", "inactive", "pending"] = Field(default="active", description="User status")
    verified: bool = Field(default=True, description="Verification status")


class EnumVariants(BaseModel):
    """SEP-1330: the five enum shapes an elicitation form may use."""

    untitledSingle: Literal["option1", "option2", "option3"] = Field(description="Untitled single-select")
    titledSingle: str = Field(
        description="Titled single-select",
        json_schema_extra={
            "oneOf": [
                {"const": "value1", "title": "First Option"},
                {"const": "value2", "title": "Second Option"},
                {"const": "value3", "title": "Third Option"},
            ]
        },
    )
    legacyEnum: Literal["opt1", "opt2", "opt3"] = Field(
        description="Legacy titled enum",
        json_schema_extra={"enumNames": ["Option One", "Option Two", "Option Three"]},
    )
    untitledMulti: list[Literal["option1", "option2", "option3"]] = Field(description="Untitled multi-select")
    titledMulti: list[str] = Field(
        description="Titled multi-select",
        json_schema_extra={
            "items": {
                "anyOf": [
                    {"const": "value1", "title": "First Choice"},
                    {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"},
                ]
            }
        },
    )


# Resolvers: each asks the client one question; the SDK picks the wire's way of asking.


def ask_contact_details(message: str) -> Elicit[ContactDetails]:
    return Elicit(message, ContactDetails)


def ask_profile() -> Elicit[ProfileWithDefaults]:
    return Elicit("Please provide user information", ProfileWithDefaults)


def ask_enum_choices() -> Elicit[EnumVariants]:
    return Elicit("Please select values using different enum schema types", EnumVariants)


def ask_model(prompt: str) -> Sample:
    return Sample([SamplingMessage(role="user", content=_text(prompt))], max_tokens=100)


def _describe(outcome: ElicitationResult[Any]) -> str:
    content = outcome.data.model_dump_json() if outcome.action == "accept" else "{}"
    return f"action={outcome.action}, content={content}"


# Tools: content types.


def test_simple_text() -> str:
    """Returns one text block."""
    return "This is a simple text response for testing."


def test_image_content() -> list[ImageContent]:
    """Returns one PNG image block."""
    return [_png()]


def test_audio_content() -> list[AudioContent]:
    """Returns one WAV audio block."""
    return [AudioContent(type="audio", data=WAV_BASE64, mime_type="audio/wav")]


def test_embedded_resource() -> list[EmbeddedResource]:
    """Returns one embedded text resource."""
    resource = TextResourceContents(
        uri="test://embedded-resource", mime_type="text/plain", text="This is an embedded resource content."
    )
    return [EmbeddedResource(type="resource", resource=resource)]


def test_multiple_content_types() -> list[TextContent | ImageContent | EmbeddedResource]:
    """Returns text, an image and an embedded resource together."""
    resource = TextResourceContents(
        uri="test://mixed-content-resource", mime_type="application/json", text='{"test": "data", "value": 123}'
    )
    return [_text("Multiple content types test:"), _png(), EmbeddedResource(type="resource", resource=resource)]


def test_error_handling() -> str:
    """Always fails, to show a tool error as an isError result."""
    raise RuntimeError("This tool intentionally returns an error for testing")


# Tools: notifications during a call.


async def _log(ctx: Context, message: str) -> None:
    # Logging is deprecated on the modern wire (SEP-2577) but is what the legacy scenarios measure; one call site
    # keeps the SDK's deprecation warning to one line per process.
    await ctx.log("info", message)


async def test_tool_with_logging(ctx: Context) -> str:
    """Sends three info log messages, 50 ms apart, while it runs."""
    await _log(ctx, "Tool execution started")
    await asyncio.sleep(0.05)
    await _log(ctx, "Tool processing data")
    await asyncio.sleep(0.05)
    await _log(ctx, "Tool execution completed")
    return "Tool with logging executed successfully"


async def test_logging_tool(ctx: Context) -> str:
    """Sends one info log message; on the modern wire it must only reach a client that asked for a log level."""
    await _log(ctx, "test_logging_tool ran")
    return "logged"


async def test_tool_with_progress(ctx: Context) -> str:
    """Reports progress 0, 50 and 100 of 100 against the caller's progress token."""
    for step in (0, 50, 100):
        await ctx.report_progress(progress=step, total=100, message=f"Completed step {step} of 100")
        if step < 100:
            await asyncio.sleep(0.05)
    return "Progress reported: 0, 50, 100 of 100"


async def test_reconnection(ctx: Context) -> str:
    """Closes its SSE stream mid-call so the client resumes with Last-Event-ID (SEP-1699)."""
    await _log(ctx, "Before disconnect")
    await ctx.close_sse_stream()
    await asyncio.sleep(0.2)
    await _log(ctx, "After reconnect")
    return "Reconnection test completed"


# Tools: asking the client, era-agnostic.


def test_sampling(prompt: str, reply: Annotated[CreateMessageResult, Resolve(ask_model)]) -> str:
    """Asks the client's LLM to answer `prompt` and returns what it said."""
    text = reply.content.text if reply.content.type == "text" else "(non-text response)"
    return f"LLM response: {text}"


def test_elicitation(
    message: str, answer: Annotated[ElicitationResult[ContactDetails], Resolve(ask_contact_details)]
) -> str:
    """Asks the user for a username and email, showing `message`."""
    return f"User response: {_describe(answer)}"


def test_streaming_elicitation(
    answer: Annotated[ElicitationResult[ContactDetails], Resolve(ask_contact_details)],
    message: str = "Please provide your contact details",
) -> str:
    """Like test_elicitation, with a default message; the modern wire must ask via InputRequiredResult."""
    return f"User response: {_describe(answer)}"


def test_elicitation_sep1034_defaults(
    answer: Annotated[ElicitationResult[ProfileWithDefaults], Resolve(ask_profile)],
) -> str:
    """Asks for a form whose every primitive field has a default (SEP-1034)."""
    return f"Elicitation completed: {_describe(answer)}"


def test_elicitation_sep1330_enums(
    answer: Annotated[ElicitationResult[EnumVariants], Resolve(ask_enum_choices)],
) -> str:
    """Asks for a form using all five enum shapes (SEP-1330)."""
    return f"Elicitation completed: {_describe(answer)}"


def test_missing_capability(ctx: Context) -> str:
    """Needs the client's sampling capability; without it fails the request itself, not just the tool."""
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.sampling is None:
        raise MCPError(
            code=MISSING_REQUIRED_CLIENT_CAPABILITY,
            message="This tool requires the client 'sampling' capability",
            data={"requiredCapabilities": {"sampling": {}}},
        )
    return "Client declared sampling capability; proceeding."


def test_x_mcp_header(
    region: Annotated[
        str,
        Field(description="Mirrored into the Mcp-Param-Region header", json_schema_extra={"x-mcp-header": "Region"}),
    ] = "<none>",
) -> str:
    """Has an argument mirrored into an Mcp-Param-* header, which the server validates (SEP-2243)."""
    return f"region={region}"


# Tools: multi-round trips on the modern wire (SEP-2322), driven by hand.


def test_input_required_result_elicitation(ctx: Context) -> str | InputRequiredResult:
    """Round 1 asks for a name (key user_name); round 2 greets it."""
    responses = ctx.input_responses or {}
    if "user_name" in responses:
        return f"Hello, {_elicited_field(responses['user_name'], 'name') or 'stranger'}!"
    return InputRequiredResult(input_requests={"user_name": _ask_form("What is your name?", "name")})


def test_input_required_result_sampling(ctx: Context) -> str | InputRequiredResult:
    """Round 1 asks the client's LLM a question (key capital_question); round 2 returns its answer."""
    responses = ctx.input_responses or {}
    answer = responses.get("capital_question")
    if answer is not None:
        text = answer.content.text if isinstance(answer, CreateMessageResult) and answer.content.type == "text" else "?"
        return f"Model said: {text}"
    return InputRequiredResult(
        input_requests={"capital_question": _ask_model("What is the capital of France?", max_tokens=100)}
    )


def test_input_required_result_list_roots(ctx: Context) -> str | InputRequiredResult:
    """Round 1 asks for the client's roots (key client_roots); round 2 counts them."""
    responses = ctx.input_responses or {}
    answer = responses.get("client_roots")
    if answer is not None:
        count = len(answer.roots) if isinstance(answer, ListRootsResult) else 0
        return f"Client exposed {count} root(s)."
    return InputRequiredResult(input_requests={"client_roots": ListRootsRequest()})


def test_input_required_result_request_state(ctx: Context) -> str | InputRequiredResult:
    """Round 1 sets requestState; round 2 succeeds only if it comes back unchanged."""
    responses = ctx.input_responses or {}
    if "confirm" in responses and ctx.request_state == "request-state-nonce":
        return "state-ok: confirmation received"
    return InputRequiredResult(input_requests={"confirm": _ask_confirmation()}, request_state="request-state-nonce")


def test_input_required_result_multiple_inputs(ctx: Context) -> str | InputRequiredResult:
    """Round 1 asks for an elicitation, a sample and the roots at once; round 2 needs all three answers."""
    responses = ctx.input_responses or {}
    if {"user_name", "greeting", "client_roots"} <= responses.keys():
        return "All inputs received."
    return InputRequiredResult(
        input_requests={
            "user_name": _ask_form("What is your name?", "name"),
            "greeting": _ask_model("Generate a greeting", max_tokens=50),
            "client_roots": ListRootsRequest(),
        },
        request_state="multiple-inputs",
    )


def test_input_required_result_multi_round(ctx: Context) -> str | InputRequiredResult:
    """Three rounds (name, then colour, then the answer), with requestState carrying the progress."""
    state = json.loads(ctx.request_state) if ctx.request_state else {"round": 0}
    responses = ctx.input_responses or {}
    if state.get("round") == 1 and "step1" in responses:
        return InputRequiredResult(
            input_requests={"step2": _ask_form("Step 2: What is your favorite color?", "color")},
            request_state=json.dumps({"round": 2, "name": _elicited_field(responses["step1"], "name")}),
        )
    if state.get("round") == 2 and "step2" in responses:
        return f"{state.get('name')} likes {_elicited_field(responses['step2'], 'color')}."
    # First round, or an answer that does not fit the round: start again rather than fail.
    return InputRequiredResult(
        input_requests={"step1": _ask_form("Step 1: What is your name?", "name")},
        request_state=json.dumps({"round": 1}),
    )


def test_input_required_result_tampered_state(ctx: Context) -> str | InputRequiredResult:
    """Round 1 sets requestState; a tampered echo must be refused by the SDK's sealed-state boundary."""
    if ctx.request_state is None:
        return InputRequiredResult(input_requests={"confirm": _ask_confirmation()}, request_state="round-1")
    return f"state-ok: {ctx.request_state}"


def test_input_required_result_capabilities(ctx: Context) -> InputRequiredResult:
    """Asks only for what the client declared it can answer (sampling, elicitation)."""
    capabilities = ctx.client_capabilities
    requests: dict[str, InputRequest] = {}
    if capabilities is None or capabilities.sampling is not None:
        requests["sample"] = _ask_model("Say hello", max_tokens=50)
    if capabilities is None or capabilities.elicitation is not None:
        requests["ask"] = _ask_form("What is your name?", "name")
    return InputRequiredResult(input_requests=requests, request_state="capability-gated")


# Tools: list-changed events for subscriptions/listen (SEP-2575).


def _dynamic_tool() -> str:
    """Exists only for an instant inside test_trigger_tool_change."""
    return "dynamic"


def _dynamic_prompt() -> str:
    """Exists only for an instant inside test_trigger_prompt_change."""
    return "dynamic"


async def test_trigger_tool_change(ctx: Context) -> str:
    """Adds and removes a tool, then announces that the tool list changed."""
    ctx.mcp_server.add_tool(_dynamic_tool, name="test_dynamic_tool")
    ctx.mcp_server.remove_tool("test_dynamic_tool")
    await ctx.notify_tools_changed()
    return "tool list changed"


async def test_trigger_prompt_change(ctx: Context) -> str:
    """Adds and removes a prompt, then announces that the prompt list changed."""
    ctx.mcp_server.prompt(name="test_dynamic_prompt", description="dynamic")(_dynamic_prompt)
    ctx.mcp_server.remove_prompt("test_dynamic_prompt")
    await ctx.notify_prompts_changed()
    return "prompt list changed"


_TOOLS = (
    test_simple_text,
    test_image_content,
    test_audio_content,
    test_embedded_resource,
    test_multiple_content_types,
    test_error_handling,
    test_tool_with_logging,
    test_logging_tool,
    test_tool_with_progress,
    test_reconnection,
    test_sampling,
    test_elicitation,
    test_streaming_elicitation,
    test_elicitation_sep1034_defaults,
    test_elicitation_sep1330_enums,
    test_missing_capability,
    test_x_mcp_header,
    test_input_required_result_elicitation,
    test_input_required_result_sampling,
    test_input_required_result_list_roots,
    test_input_required_result_request_state,
    test_input_required_result_multiple_inputs,
    test_input_required_result_multi_round,
    test_input_required_result_tampered_state,
    test_input_required_result_capabilities,
    test_trigger_tool_change,
    test_trigger_prompt_change,
)


# Resources.


def static_text_resource() -> str:
    """A static text resource."""
    return "This is the content of the static text resource."


def static_binary_resource() -> bytes:
    """A static binary resource (a PNG image)."""
    return base64.b64decode(PNG_BASE64)


def template_resource(id: str) -> str:
    """A resource template whose {id} is echoed back in the JSON."""
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


def watched_resource() -> str:
    """A resource clients subscribe to."""
    return "Watched resource content"


# Prompts.


def test_simple_prompt() -> list[UserMessage]:
    """A prompt without arguments."""
    return [UserMessage(role="user", content=_text("This is a simple prompt for testing."))]


def test_prompt_with_arguments(arg1: str, arg2: str) -> list[UserMessage]:
    """A prompt with two required arguments."""
    return [UserMessage(role="user", content=_text(f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"))]


def test_prompt_with_embedded_resource(resourceUri: str) -> list[UserMessage]:
    """A prompt that embeds the resource named by resourceUri."""
    resource = TextResourceContents(
        uri=resourceUri, mime_type="text/plain", text="Embedded resource content for testing."
    )
    return [
        UserMessage(role="user", content=EmbeddedResource(type="resource", resource=resource)),
        UserMessage(role="user", content=_text("Please process the embedded resource above.")),
    ]


def test_prompt_with_image() -> list[UserMessage]:
    """A prompt that includes an image."""
    return [
        UserMessage(role="user", content=_png()),
        UserMessage(role="user", content=_text("Please analyze the image above.")),
    ]


def test_input_required_result_prompt(ctx: Context) -> list[UserMessage] | InputRequiredResult:
    """A prompt that first asks the user for context (SEP-2322 outside tools/call)."""
    responses = ctx.input_responses or {}
    if "user_context" in responses:
        text = _elicited_field(responses["user_context"], "context") or "?"
        return [UserMessage(role="user", content=_text(f"Use the following context: {text}"))]
    return InputRequiredResult(
        input_requests={"user_context": _ask_form("What context should the prompt use?", "context")}
    )


_PROMPTS = (
    test_simple_prompt,
    test_prompt_with_arguments,
    test_prompt_with_embedded_resource,
    test_prompt_with_image,
    test_input_required_result_prompt,
)
_PROMPT_NAMES = frozenset(prompt.__name__ for prompt in _PROMPTS)


# SEP-1613 / SEP-2106: every JSON Schema 2020-12 keyword here must survive tools/list unchanged.
JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


def json_schema_2020_12_tool() -> str:
    """Advertises a JSON Schema 2020-12 inputSchema that clients must receive keyword for keyword."""
    return "json_schema_2020_12_tool"


def conformance_tools() -> list[Tool]:
    """Fixture tools for `MCPServer(tools=...)`: their inputSchema is not derived from a Python signature."""
    tool = Tool.from_function(json_schema_2020_12_tool)
    return [tool.model_copy(update={"parameters": JSON_SCHEMA_2020_12})]


def register_conformance_fixture(mcp: MCPServer) -> None:
    """Add the conformance suite's tools, resources, templates and prompts to `mcp`; leave the rest untouched."""
    for tool in _TOOLS:
        mcp.add_tool(tool)
    mcp.resource("test://static-text", name="static_text", mime_type="text/plain")(static_text_resource)
    mcp.resource("test://static-binary", name="static_binary", mime_type="image/png")(static_binary_resource)
    mcp.resource(TEMPLATE_URI, name="template", mime_type="application/json")(template_resource)
    mcp.resource(WATCHED_URI, name="watched_resource", mime_type="text/plain")(watched_resource)
    for prompt in _PROMPTS:
        mcp.prompt()(prompt)


def conformance_completion(
    ref: PromptReference | ResourceTemplateReference,
    argument: CompletionArgument,
    context: CompletionContext | None,
) -> Completion | None:
    """Completions for the fixture's prompt arguments and template variables; None for anything else."""
    if isinstance(ref, PromptReference):
        if ref.name not in _PROMPT_NAMES:
            return None
        candidates: tuple[str, ...] = _PROMPT_ARGUMENT_VALUES
    elif ref.uri == TEMPLATE_URI and argument.name == "id":
        candidates = _TEMPLATE_ID_VALUES
    else:
        return None
    values = [value for value in candidates if value.startswith(argument.value)]
    return Completion(values=values, total=len(values), has_more=False)
