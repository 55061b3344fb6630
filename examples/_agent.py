"""Shared by the LangGraph examples: settings, the Entra ID token, the model, the agent run, what is printed, and
the one-line errors.

Two environments import this file: the project's (`langgraph_smoke.py`: `langchain.mcp`, `mcp` 2, `httpx2`) and the
adapters script's own (`langgraph_adapters.py`: `langchain-mcp-adapters`, `mcp` 1, `httpx`). So it imports only
what both have (the standard library, `python-dotenv`, `msal` and its `requests`, `anyio`, `langchain`,
`langchain-core`, `langgraph`) and never `prynai_mcp`, `httpx` or `httpx2`: each example mixes `EntraBearer` into
its own library's `Auth` class.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import anyio.to_thread
import msal  # type: ignore[import-untyped]  # MSAL ships no type information
import requests
from dotenv import find_dotenv, load_dotenv
from langchain.agents import create_agent
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool

DEFAULT_URL = "http://127.0.0.1:8000/mcp"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
DEFAULT_OPENAI_MODEL = "gpt-5-mini"
ENTRA = ("ENTRA_TENANT_ID", "ENTRA_CLIENT_ID", "ENTRA_CLIENT_SECRET", "SERVER_APP_ID_URI")
AZURE = ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_DEPLOYMENT", "OPENAI_API_VERSION")
QUESTION = "What is 7 + 8? Use the add tool."
SYSTEM_PROMPT = "You answer arithmetic questions with the tools you are given, then state the result in one sentence."
AGENT_NAME = "prynai-agent"


class ExampleError(Exception):
    """What went wrong, as the one line a user reads (the examples print it and exit non-zero)."""


# --- settings ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    url: str
    entra: dict[str, str] | None  # None: connect without a token (a server with AUTH_REQUIRED off)
    authority: str
    tracing: bool
    project: str


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def load_settings(description: str) -> Settings:
    """The user's settings from the environment, then a `.env` file (found from the current directory upwards, or
    `--env-file`), which never overrides the environment."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--env-file", help="dotenv file to load (default: .env found from the current directory up)")
    args = parser.parse_args()
    load_dotenv(args.env_file or find_dotenv(usecwd=True), override=False)
    given = [name for name in ENTRA if os.environ.get(name)]
    if given and len(given) < len(ENTRA):
        missing = [name for name in ENTRA if name not in given]
        parser.error(
            f"set {', '.join(missing)} too (environment or .env), or none of {', '.join(ENTRA)} to connect open"
        )
    tracing = truthy(os.environ.get("LANGSMITH_TRACING")) or truthy(os.environ.get("LANGCHAIN_TRACING_V2"))
    if tracing and not (os.environ.get("LANGSMITH_API_KEY") or os.environ.get("LANGCHAIN_API_KEY")):
        parser.error("LANGSMITH_TRACING is on: set LANGSMITH_API_KEY (environment or .env)")
    azure = [name for name in AZURE if os.environ.get(name)]
    if azure and len(azure) < len(AZURE):
        parser.error(f"for Azure OpenAI set {', '.join(n for n in AZURE if n not in azure)} too (environment or .env)")
    return Settings(
        url=os.environ.get("PRYNAI_MCP_URL") or DEFAULT_URL,
        entra={name: os.environ[name] for name in ENTRA} if given else None,
        authority=(os.environ.get("ENTRA_AUTHORITY") or DEFAULT_AUTHORITY).rstrip("/"),
        tracing=tracing,
        project=os.environ.get("LANGSMITH_PROJECT") or os.environ.get("LANGCHAIN_PROJECT") or "default",
    )


# --- the token -----------------------------------------------------------------------------------------------------

# What to check when Entra refuses the client, by its `error` code.
_ENTRA_HINTS = {
    "invalid_client": "check ENTRA_CLIENT_SECRET: the secret's value, not its id",
    "unauthorized_client": "check ENTRA_CLIENT_ID and ENTRA_TENANT_ID",
    "invalid_resource": "check SERVER_APP_ID_URI: the server app's Application ID URI",
    "invalid_scope": "check SERVER_APP_ID_URI: the server app's Application ID URI",
    "invalid_request": "check ENTRA_TENANT_ID",
}


class EntraTokens:
    """Client-credentials access tokens for the server app, from MSAL's cache while they have more than five
    minutes left, else fresh from Entra ID (MSAL's rule): call `token()` before every request and a token never
    expires in use, however long the agent runs, while Entra is asked about once an hour."""

    def __init__(self, entra: dict[str, str], authority: str) -> None:
        self.authority = authority
        self.entra = entra
        self.scopes = [entra["SERVER_APP_ID_URI"].rstrip("/") + "/.default"]
        self._app: Any = None  # built on first use: MSAL fetches the tenant's metadata as it is built
        # One caller refreshes at a time: concurrent requests at expiry share one new token instead of each
        # fetching their own.
        self._lock = threading.Lock()

    def token(self) -> str:
        """A valid access token (blocking: MSAL uses `requests`). Raises `ExampleError` saying why there is none."""
        try:
            with self._lock:
                if self._app is None:
                    self._app = msal.ConfidentialClientApplication(
                        self.entra["ENTRA_CLIENT_ID"],
                        client_credential=self.entra["ENTRA_CLIENT_SECRET"],
                        authority=f"{self.authority}/{self.entra['ENTRA_TENANT_ID']}",
                        # Known Microsoft hosts skip instance discovery anyway; any other (a sovereign cloud alias,
                        # the local stand-in) is taken as given instead of being looked up at login.microsoftonline.com.
                        instance_discovery=False,
                    )
                result = self._app.acquire_token_for_client(scopes=self.scopes)
        except requests.exceptions.ConnectionError as error:
            raise ExampleError(f"cannot reach the authority at {self.authority} (check ENTRA_AUTHORITY)") from error
        except ValueError as error:  # MSAL: no OIDC metadata for this tenant at this authority
            first = one_line(str(error)).split(". ")[0]  # MSAL goes on with examples of Microsoft's hosts
            raise ExampleError(f"{first} (check ENTRA_TENANT_ID and ENTRA_AUTHORITY)") from error
        except requests.exceptions.RequestException as error:  # TLS, timeouts
            raise ExampleError(f"cannot get a token from {self.authority}: {one_line(str(error))}") from error
        if "access_token" not in result:
            code = str(result.get("error"))
            hint = f" ({_ENTRA_HINTS[code]})" if code in _ENTRA_HINTS else ""
            description = one_line(str(result.get("error_description")))
            raise ExampleError(f"Entra ID gave no token: {code}: {description}{hint}")
        return str(result["access_token"])


@dataclass(frozen=True)
class Refusal:
    """An HTTP error answer from the MCP server. For 401/403 the reason is in `WWW-Authenticate` (`error`,
    `error_description`: README, "Authentication")."""

    status: int
    reason_phrase: str
    www_authenticate: str

    def describe(self, url: str) -> str:
        if self.status not in (401, 403):
            hint = " (is PRYNAI_MCP_URL the server's /mcp endpoint?)" if self.status == 404 else ""
            return f"the MCP server at {url} answered HTTP {self.status} {self.reason_phrase}{hint}"
        fields = dict(_auth_params(self.www_authenticate))
        description = fields.get("error_description", "")
        lowered = description.lower()
        # The server's descriptions name the kind of mismatch ("Missing app role: X", "... expected audience: Y"):
        # say which first, then what to change, unless the server already said (it names the setting then).
        if "audience" in lowered:
            kind, hint = "audience", "SERVER_APP_ID_URI must name the app the server accepts in ENTRA_AUDIENCES"
        elif lowered.startswith("missing app role"):
            kind, hint = "role", "grant the client app that app role on the server app and give admin consent"
        elif lowered.startswith("missing scope"):
            kind, hint = "scope", "client-credentials tokens carry app roles, not scopes"
        else:
            kind, hint = "token", ""
        reason = f"{self.status} {fields.get('error', self.reason_phrase)}, {kind}"
        advice = f" ({hint})" if hint and "ENTRA_" not in description else ""
        return f"the MCP server refused the token ({reason}): {description or self.www_authenticate}{advice}"


def _auth_params(header: str) -> Iterable[tuple[str, str]]:
    """`Bearer error="x", error_description="y"` -> (error, x), (error_description, y)."""
    rest = header.partition(" ")[2]
    while rest:
        name, sep, rest = rest.strip().partition("=")
        if not sep:
            return
        if rest.startswith('"'):
            value, _, rest = rest[1:].partition('"')
        else:
            value, _, rest = rest.partition(",")
        yield name.strip().lower(), value
        rest = rest.lstrip(" ,")


@dataclass
class EntraBearer:
    """The body of an `httpx.Auth` / `httpx2.Auth`: every request gets `Authorization: Bearer <token>` with a token
    from `EntraTokens.token()` at the moment it is sent (so it renews itself), and every HTTP error answer is kept
    to explain a failure later (the MCP clients turn them into generic errors). Mix it into the library's `Auth`.

    `tokens=None` sends no header: the server runs with auth off.
    """

    tokens: EntraTokens | None
    refusals: list[Refusal] = field(default_factory=list)

    def auth_flow(self, request: Any) -> Generator[Any, Any, None]:
        if self.tokens is not None:
            request.headers["Authorization"] = f"Bearer {self.tokens.token()}"
        self._observe((yield request))

    async def async_auth_flow(self, request: Any) -> AsyncGenerator[Any, Any]:
        if self.tokens is not None:
            # MSAL blocks while it fetches a token: keep the event loop (other requests, streams) running meanwhile.
            token = await anyio.to_thread.run_sync(self.tokens.token)
            request.headers["Authorization"] = f"Bearer {token}"
        self._observe((yield request))

    def _observe(self, response: Any) -> None:
        if response.status_code >= 400:
            www_authenticate = response.headers.get("www-authenticate", "")
            self.refusals.append(Refusal(response.status_code, response.reason_phrase, www_authenticate))


# --- the model -----------------------------------------------------------------------------------------------------


class ScriptedChatModel(BaseChatModel):
    """A deterministic chat model for running offline and in tests: asks for `add(7, 8)`, then answers with what
    the tool returned. It goes through the same agent loop, tool call and traces as a real model."""

    @property
    def _llm_type(self) -> str:
        return "prynai-scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        # The script names its tool itself; binding changes nothing (the agent still runs the real tool).
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        results = [m for m in messages[_last_question(messages) :] if isinstance(m, ToolMessage)]
        if not results:
            reply = AIMessage(
                content="", tool_calls=[{"name": "add", "args": {"a": 7, "b": 8}, "id": f"call_{uuid.uuid4().hex}"}]
            )
        else:
            reply = AIMessage(content=f"7 + 8 = {text_of(results[-1])}.")
        return ChatResult(generations=[ChatGeneration(message=reply)])


def _last_question(messages: Sequence[BaseMessage]) -> int:
    return max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=0)


def build_model() -> BaseChatModel:
    """Azure OpenAI, or OpenAI, when their settings are there; else the scripted model."""
    if os.environ.get("AZURE_OPENAI_ENDPOINT"):
        from langchain_openai import AzureChatOpenAI  # only needed with a real model

        # Reads AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY and OPENAI_API_VERSION itself. No temperature: reasoning
        # models refuse one.
        return AzureChatOpenAI(azure_deployment=os.environ["AZURE_OPENAI_DEPLOYMENT"])
    if os.environ.get("OPENAI_API_KEY"):
        from langchain_openai import ChatOpenAI

        # Reads OPENAI_API_KEY (and OPENAI_BASE_URL, for an OpenAI-compatible gateway) itself.
        return ChatOpenAI(model=os.environ.get("PRYNAI_OPENAI_MODEL") or DEFAULT_OPENAI_MODEL)
    return ScriptedChatModel()


# --- the run -------------------------------------------------------------------------------------------------------


async def run_agent(tools: Sequence[BaseTool], settings: Settings, *, wire: str) -> None:
    """Run the agent graph on the question and print what it did; with LangSmith tracing on, flush the trace and
    print the run's id (the trace tree's root)."""
    print("TOOLS:", [tool.name for tool in tools], flush=True)
    errors: list[Exception] = []
    if settings.tracing:
        from langsmith.run_trees import get_cached_client

        # The client LangChain's tracer will use (it is created once per process): remember what it failed to send.
        get_cached_client(tracing_error_callback=errors.append)
    # create_agent builds the LangGraph graph: a model node (the agent, which decides) and a tools node (which calls
    # the MCP tools), looping until the model answers.
    agent = create_agent(build_model(), tools, system_prompt=SYSTEM_PROMPT, name=AGENT_NAME)
    run_id = uuid.uuid4()
    result = await agent.ainvoke(
        {"messages": [HumanMessage(QUESTION)]},
        config={"run_id": run_id, "tags": ["prynai-mcp", wire], "metadata": {"mcp_url": settings.url, "wire": wire}},
    )
    messages: list[BaseMessage] = result["messages"]
    for line in tool_call_lines(messages):
        print(line)
    print("ANSWER:", text_of(messages[-1]), flush=True)
    if settings.tracing:
        from langchain_core.tracers.langchain import wait_for_all_tracers

        wait_for_all_tracers()  # the trace is sent in the background: make sure it left before saying so
        if errors:
            raise ExampleError(f"LangSmith did not accept the trace: {one_line(str(errors[-1]))}")
        print(f"LANGSMITH RUN: {run_id} (project {settings.project})")


def tool_call_lines(messages: Sequence[BaseMessage]) -> list[str]:
    """`TOOL CALL: add {"a": 7, "b": 8} -> 15` for each tool call the model made, with the tool's result."""
    results = {m.tool_call_id: m for m in messages if isinstance(m, ToolMessage)}
    lines = []
    for message in messages:
        for call in message.tool_calls if isinstance(message, AIMessage) else []:
            answered = results.get(str(call["id"]))
            outcome = text_of(answered) if answered is not None else "(no result)"
            lines.append(f"TOOL CALL: {call['name']} {json.dumps(call['args'])} -> {outcome}")
    return lines


def text_of(message: BaseMessage) -> str:
    """The text of a message whose content is a string or a list of content blocks (MCP tool results are)."""
    content = message.content
    if isinstance(content, str):
        return content
    parts = [block if isinstance(block, str) else str(block.get("text", "")) for block in content]
    return "".join(parts)


def one_line(text: str) -> str:
    return " ".join(text.split())


# --- failures ------------------------------------------------------------------------------------------------------


def find_error(error: BaseException, kinds: tuple[type[BaseException], ...]) -> BaseException | None:
    """The first error of `kinds` in `error`, its exception groups (task groups raise them), causes and contexts."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kinds):
            return current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return None


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def explain(
    error: BaseException,
    settings: Settings,
    auth: EntraBearer,
    *,
    unreachable: tuple[type[BaseException], ...],
    protocol_errors: tuple[type[BaseException], ...],
) -> str | None:
    """The one line for a failure a user can fix (no token, server unreachable or refusing, an MCP error), or
    None for anything else (a bug: let its traceback show)."""
    if (found := find_error(error, (ExampleError,))) is not None:
        return str(found)
    if auth.refusals:
        return auth.refusals[-1].describe(settings.url)
    if (found := find_error(error, unreachable)) is not None:
        return f"cannot reach the MCP server at {settings.url} ({one_line(str(found)) or type(found).__name__})"
    if (found := find_error(error, protocol_errors)) is not None:
        return f"the MCP server answered with an error: {one_line(str(found))}"
    return None


def main[AuthT: EntraBearer](
    description: str,
    run: Callable[[Settings, AuthT], Awaitable[None]],
    make_auth: Callable[[EntraTokens | None], AuthT],
    *,
    unreachable: tuple[type[BaseException], ...],
    protocol_errors: tuple[type[BaseException], ...] = (),
) -> None:
    """Load the settings, get the first token (a wrong secret fails here, before any connection), then
    `anyio.run(run, settings, auth)`; a failure a user can fix is one line on stderr and exit status 1."""
    settings = load_settings(description)
    tokens = EntraTokens(settings.entra, settings.authority) if settings.entra else None
    auth = make_auth(tokens)
    try:
        if tokens is not None:
            tokens.token()
        anyio.run(run, settings, auth)
    except Exception as error:
        line = explain(error, settings, auth, unreachable=unreachable, protocol_errors=protocol_errors)
        if line is None:
            raise
        fail(line)
