"""One SERVER span and one `mcp.server.operation.duration` measurement per MCP message (loaded only when on).

`ServerSpans` is SDK server middleware, put first in the chain in place of the SDK's own span middleware (which
knows no session id and records no metrics): it sees every message on both wires, `initialize` and notifications
included, and wraps everything after it, so the Redis round trips a handler makes are its children.

The parent is the trace context the client put in `params._meta` (`traceparent`, `tracestate`, as the MCP
conventions say); failing that, the `traceparent` header of the HTTP request that carried the message. When both are
there, the HTTP one becomes a link. Attributes follow the OpenTelemetry MCP conventions: `mcp.method.name`,
`mcp.session.id` (session-based wire), `mcp.protocol.version`, `jsonrpc.request.id`, `gen_ai.tool.name` /
`gen_ai.prompt.name`, and on failure `error.type` with `rpc.response.status_code` (the JSON-RPC error code), or
`error.type=tool_error` for a tool result with `isError`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, StatusCode, Tracer
from pydantic import ValidationError

from prynai_mcp.sessions.identity import session_id_of
from prynai_mcp.telemetry.instruments import Instruments

# The JSON-RPC code the SDK answers a request with when its params do not validate.
_INVALID_PARAMS = "-32602"
# Streamable HTTP runs over TCP; the conventions ask for both on spans and on the duration metric.
_TRANSPORT = {"network.transport": "tcp", "network.protocol.name": "http"}


def _remote_context(carrier: Mapping[str, Any] | None) -> Context | None:
    """The remote parent a carrier (`_meta`, HTTP headers) names; None when it names none or a malformed one."""
    if not carrier:
        return None
    try:
        context = propagate.extract(carrier)
    except (TypeError, ValueError):  # a client's garbage must not fail its request
        return None
    return context if trace.get_current_span(context).get_span_context().is_valid else None


class ServerSpans:
    def __init__(self, tracer: Tracer, instruments: Instruments, *, azure_monitor: bool = False) -> None:
        self._tracer = tracer
        self._duration = instruments.operation_duration
        # Azure Monitor's exporter leaves `error.type` and `rpc.*` out of a request's customDimensions (it treats them
        # as its own): a copy under our name keeps the error's code queryable there.
        self._copy_error = azure_monitor

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        method = ctx.method
        params = ctx.params or {}
        target = params.get("name") if method in ("tools/call", "prompts/get") else None
        measured: dict[str, Any] = {"mcp.method.name": method, **_TRANSPORT}
        if isinstance(target, str):
            measured["gen_ai.tool.name" if method == "tools/call" else "gen_ai.prompt.name"] = target
        else:
            target = None
        if method == "tools/call":
            measured["gen_ai.operation.name"] = "execute_tool"
        if ctx.protocol_version and method != "initialize":  # initialize's version is the one it negotiates
            measured["mcp.protocol.version"] = ctx.protocol_version
        described: dict[str, Any] = dict(measured)  # the span also gets what is unique to this one message
        if ctx.request_id is not None:
            described["jsonrpc.request.id"] = str(ctx.request_id)
        if (session := session_id_of(ctx)) is not None:
            described["mcp.session.id"] = session
        request = ctx.request
        client = getattr(request, "client", None)
        if client is not None and client.host:
            described["client.address"] = client.host
        from_meta = _remote_context(ctx.meta)
        from_http = _remote_context(getattr(request, "headers", None))
        links = [Link(trace.get_current_span(from_http).get_span_context())] if from_meta and from_http else None
        started = time.perf_counter()
        with self._tracer.start_as_current_span(
            f"{method} {target}" if target else method,
            context=from_meta or from_http,
            kind=SpanKind.SERVER,
            attributes=described,
            links=links,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            failure: dict[str, str] = {}
            try:
                result = await call_next(ctx)
                if method == "initialize" and isinstance(result, dict) and "protocolVersion" in result:
                    measured["mcp.protocol.version"] = str(result["protocolVersion"])
                    span.set_attribute("mcp.protocol.version", measured["mcp.protocol.version"])
                if method == "tools/call" and _is_tool_error(result):
                    failure = {"error.type": "tool_error"}
                    span.set_status(StatusCode.ERROR)
                return result
            except MCPError as error:
                code = str(error.error.code)
                failure = {"error.type": code, "rpc.response.status_code": code}
                span.set_status(StatusCode.ERROR, error.error.message)
                raise
            except ValidationError:
                # What the client is told; pydantic's own text carries the client's input.
                failure = {"error.type": _INVALID_PARAMS, "rpc.response.status_code": _INVALID_PARAMS}
                span.set_status(StatusCode.ERROR, "Invalid request parameters")
                raise
            except anyio.get_cancelled_exc_class():
                failure = {"error.type": "cancelled"}  # the client went away, or the drain cut the request
                raise
            except Exception as error:
                failure = {"error.type": type(error).__qualname__}
                span.record_exception(error)
                span.set_status(StatusCode.ERROR, type(error).__qualname__)
                raise
            finally:
                if failure:
                    span.set_attributes(failure)
                    measured.update(failure)
                    if self._copy_error:
                        span.set_attribute("prynai.error.type", failure["error.type"])
                self._duration.record(time.perf_counter() - started, measured)


def _is_tool_error(result: HandlerResult) -> bool:
    """A tool result that reaches the client with `isError: true` (the chain hands on the wire dict, or a model)."""
    if isinstance(result, dict):
        return result.get("isError") is True
    return getattr(result, "is_error", None) is True
