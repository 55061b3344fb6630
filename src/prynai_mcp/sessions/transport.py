"""A session's transport: each request is answered with one JSON body when it can, with an SSE stream when it must.

The SDK's transport opens an SSE stream for every request of a session, even when all it will ever carry is the
answer. For a call that answers at once with nothing before it, that stream (a priming event, an SSE response and its
helper tasks) costs about as much as the rest of the request, and with Redis its priming event is a round trip. The
protocol lets the server choose per request ("the server MUST either return Content-Type: text/event-stream ... or
Content-Type: application/json"), and every client must accept both, so `SessionTransport` waits up to `sse_after`
for the request's first message:
- it is the answer: it goes out as `application/json`; nothing of it was stored or claimed (`SessionStreams`);
- anything else comes first (progress, a log line, a sampling request), `sse_after` passes in silence, or the
  handler asks to close its stream for polling: the response becomes an SSE stream, opened with a priming event (or
  with that first message, which carries its own event id) only after this replica has claimed the request. From
  then on the client can resume it on any replica and hears if this replica dies (see `SessionStreams`).
The cost of this choice: a replica that dies while a request is still undecided (its first `sse_after`, silent)
leaves that client with a dropped connection, as any HTTP server dying mid-response would; `sse_after=0` streams
every request at once, as the SDK does.

Requests this path does not take (`initialize`, anything malformed or mis-headed, responses and notifications, and
`PRYNAI_JSON_RESPONSE` mode) go to the SDK's own handling unchanged, so every error answer stays the SDK's.
Private members used, checked against `mcp` 2.3.0: `_handle_post_request`, `_request_streams`, `_read_stream_writer`,
`_create_session_message`, `_create_json_response`, `_create_error_response`, `_check_content_type`,
`_get_session_id`, `_clean_up_memory_streams` and `_retry_interval` of `StreamableHTTPServerTransport`.
"""

from __future__ import annotations

import logging
import math
from http import HTTPStatus

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream
from mcp.server.streamable_http import (
    MCP_SESSION_ID_HEADER,
    REQUEST_STREAM_BUFFER_SIZE,
    EventMessage,
    StreamableHTTPServerTransport,
    check_accept_headers,
)
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp.shared.message import ServerMessageMetadata, SessionMessage
from mcp_types import (
    DEFAULT_NEGOTIATED_VERSION,
    INTERNAL_ERROR,
    JSONRPCRequest,
    jsonrpc_message_adapter,
)
from mcp_types.version import is_version_at_least
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from prynai_mcp.sessions.streams import SessionStreams, answers

logger = logging.getLogger(__name__)

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
]


class SessionTransport(StreamableHTTPServerTransport):
    def __init__(
        self,
        session_id: str,
        *,
        streams: SessionStreams,
        sse_after_seconds: float,
        keepalive_seconds: float,
        max_stream_seconds: float = 0,
        json_response: bool,
        retry_interval_ms: int | None,
        idle_timeout: float | None,
        security_settings: TransportSecuritySettings | None = None,
    ) -> None:
        super().__init__(
            mcp_session_id=session_id,
            is_json_response_enabled=json_response,
            event_store=streams,
            security_settings=security_settings,
            retry_interval=retry_interval_ms,
            idle_timeout=idle_timeout,
        )
        self._streams = streams
        self._sse_after = sse_after_seconds
        self._keepalive = keepalive_seconds
        self._max_stream = max_stream_seconds
        self._undecided: dict[str, anyio.CancelScope] = {}  # requests still waiting for their first message
        self._streaming: dict[str, anyio.Event] = {}  # set once the request's SSE stream has started

    @property
    def busy(self) -> bool:
        """Whether a request of the session is being answered through this copy now (it must not be dropped)."""
        return bool(self._request_streams)

    async def _handle_post_request(self, scope: Scope, request: Request, receive: Receive, send: Send) -> None:
        message = await self._plain_request(request)
        if message is None:
            await super()._handle_post_request(scope, request, receive, send)
        else:
            await self._answer(message, request, send)

    async def _plain_request(self, request: Request) -> JSONRPCRequest | None:
        """The request when it is a well-formed JSON-RPC request of this session that may be answered either way."""
        if self.is_json_response_enabled or self._read_stream_writer is None:
            return None
        if not all(check_accept_headers(request)) or not self._check_content_type(request):
            return None
        if self._get_session_id(request) != self.mcp_session_id:
            return None
        try:
            message = jsonrpc_message_adapter.validate_json(await request.body(), by_name=False)
        except (ValidationError, ValueError):
            return None
        if not isinstance(message, JSONRPCRequest) or message.method == "initialize":
            return None
        return message

    async def _answer(self, message: JSONRPCRequest, request: Request, send: Send) -> None:
        stream = str(message.id)
        version = request.headers.get(MCP_PROTOCOL_VERSION_HEADER, DEFAULT_NEGOTIATED_VERSION)
        sender, reader = anyio.create_memory_object_stream[EventMessage](REQUEST_STREAM_BUFFER_SIZE)
        self._request_streams[stream] = (sender, reader)
        self._streams.begin(stream, message.id)
        session_message = self._create_session_message(message, request, stream, version)
        self._stream_before_closing(session_message, stream)
        self._undecided[stream] = anyio.CancelScope(deadline=anyio.current_time() + self._sse_after)
        try:
            first = await self._first_message(session_message, stream, reader)
            if first is not None and answers(first.message, stream):
                await self._create_json_response(first.message)(request.scope, request.receive, send)
                return
            resumable = is_version_at_least(version, "2025-11-25")
            prime = first is None and resumable
            limit = self._max_stream if resumable else 0  # earlier clients do not resume a request's stream
            await self._stream_response(stream, first, reader, send, prime=prime, max_seconds=limit)
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            # The request stream closed before anything was sent: the session ended while the request ran.
            response = self._create_error_response(
                "Session terminated before the request completed", HTTPStatus.INTERNAL_SERVER_ERROR, INTERNAL_ERROR
            )
            await response(request.scope, request.receive, send)
        finally:
            self._undecided.pop(stream, None)
            started = self._streaming.pop(stream, None)
            if started is not None:
                started.set()
            await self._clean_up_memory_streams(stream)

    async def _first_message(
        self, session_message: SessionMessage, stream: str, reader: MemoryObjectReceiveStream[EventMessage]
    ) -> EventMessage | None:
        """The request's first message, or None when `sse_after` passed (or the handler asked for a stream) first."""
        assert self._read_stream_writer is not None
        await self._read_stream_writer.send(session_message)
        with self._undecided[stream]:
            return await reader.receive()
        try:
            return reader.receive_nowait()  # it may have arrived as the wait ended
        except anyio.WouldBlock:
            return None

    async def _stream_response(
        self,
        stream: str,
        first: EventMessage | None,
        reader: MemoryObjectReceiveStream[EventMessage],
        send: Send,
        *,
        prime: bool,
        max_seconds: float = 0,
    ) -> None:
        priming = await self._streams.stream(stream, prime=prime)
        headers = [*_SSE_HEADERS, (MCP_SESSION_ID_HEADER.encode(), (self.mcp_session_id or "").encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if priming:
            await _send_body(send, _priming_event(priming, self._retry_interval))
        self._undecided.pop(stream, None)
        started = self._streaming.pop(stream, None)
        if started is not None:
            started.set()
        message = first
        ends_at = anyio.current_time() + max_seconds if max_seconds else math.inf
        try:
            while True:
                if message is not None:
                    await _send_body(send, _message_event(message))
                    if answers(message.message, stream):
                        break
                if (left := ends_at - anyio.current_time()) <= 0:
                    # Held long enough (PRYNAI_SSE_MAX_STREAM_SECONDS): end the response before a proxy cuts it.
                    # The request runs on; its events still go to the event log, where the client's GET with
                    # Last-Event-ID (to any replica) picks them up after the suggested delay.
                    await _send_body(send, _retry_hint(self._retry_interval))
                    self._detach(stream)
                    break
                with anyio.move_on_after(min(self._keepalive, left)) as quiet:
                    message = await reader.receive()
                if quiet.cancelled_caught:
                    message = None
                    if anyio.current_time() < ends_at:
                        await _send_body(send, b": keepalive\n\n")  # keeps proxies from timing a silent stream out
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            pass  # closed for polling or by the session's end: the client resumes from its last event id
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _stream_before_closing(self, session_message: SessionMessage, stream: str) -> None:
        """A handler closing its stream (SEP-1699 polling) needs the client to hold an event id first: a request still
        undecided starts its SSE stream before the close goes through."""
        metadata = session_message.metadata
        if not isinstance(metadata, ServerMessageMetadata) or metadata.close_sse_stream is None:
            return
        close = metadata.close_sse_stream

        async def stream_then_close() -> None:
            undecided = self._undecided.get(stream)
            if undecided is not None:
                started = self._streaming.setdefault(stream, anyio.Event())
                undecided.cancel()
                await started.wait()
            await close()

        metadata.close_sse_stream = stream_then_close

    def _detach(self, stream: str) -> None:
        """Stop delivering the request's messages to this response (the router then only stores them)."""
        streams = self._request_streams.pop(stream, None)
        if streams is not None:
            for end in streams:
                end.close()


def _retry_hint(retry_ms: int | None) -> bytes:
    return f"retry: {retry_ms if retry_ms is not None else 1000}\n\n".encode()


def _message_event(event: EventMessage) -> bytes:
    data = event.message.model_dump_json(by_alias=True, exclude_unset=True)
    event_id = f"id: {event.event_id}\n" if event.event_id else ""
    return f"event: message\n{event_id}data: {data}\n\n".encode()


def _priming_event(event_id: str, retry_ms: int | None) -> bytes:
    retry = f"retry: {retry_ms}\n" if retry_ms is not None else ""
    return f"id: {event_id}\n{retry}data: \n\n".encode()


async def _send_body(send: Send, body: bytes) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": True})


__all__ = ["SessionTransport"]
