"""The legacy-wire session manager that lets a session roam across replicas.

Guarantees, with a shared registry and event log (Redis): a request for a session is served by whichever replica
it reaches, with the session's negotiated version, client capabilities and owner; a GET stream is served from the
session's event log, so it carries notifications produced on any replica and resumes from `Last-Event-ID` on any
replica; a client's answer to a server->client request reaches the replica that asked; `DELETE` ends the session
everywhere. A replica keeps a local copy of a session (the SDK transport and its message loop) only while it is in
use, and rebuilds it from the registry on the next request: local copies are a cache, the least recently used idle
ones dropped when `max_sessions` of them are held.

Bounds, whatever a client sends: a session id is checked for the server's own form before any store is asked; an
`initialize` with oversized client info or capabilities is refused (400), and one past the principal's
`PRYNAI_MAX_SESSIONS_PER_PRINCIPAL` live sessions gets 429 (`slots.sessions`, counted across the fleet); a GET stream
past the session's `PRYNAI_MAX_STREAMS_PER_SESSION` gets 409 (`slots.streams`); a `Last-Event-ID` must name one of
the session's streams (400 otherwise), and a resumed request stream whose request is over ends at once.

Built on `mcp` 2.3's `StreamableHTTPSessionManager`: new sessions keep its admission path; `_admit_session`,
`_serve_opening_request`, `_discard_session` and `_server_instances` are its private members (checked against
2.3.0; see `prynai_mcp._sdk` for the policy). The 2026-07-28 wire is untouched: the base class routes it before
any of this runs.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import anyio.abc
from mcp.server.connection import Connection
from mcp.server.lowlevel.server import Server
from mcp.server.runner import serve_connection
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER, StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from mcp.shared.transport_context import TransportContext
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, InitializeRequestParams
from starlette.datastructures import Headers
from starlette.responses import Response, StreamingResponse
from starlette.types import Message as AsgiMessage
from starlette.types import Receive, Scope, Send

from prynai_mcp import telemetry
from prynai_mcp.codes import INTERRUPTED, LIMIT_EXCEEDED
from prynai_mcp.drain import Drain
from prynai_mcp.http.bodies import read_body, replay
from prynai_mcp.http.errors import jsonrpc_error_body, jsonrpc_error_response
from prynai_mcp.sessions.events import GET_STREAM_KEY, EventLog, event_id, parse_event_id
from prynai_mcp.sessions.identity import (
    PRINCIPAL_SCOPE_KEY,
    RECORDED_SCOPE_KEY,
    SESSION_SCOPE_KEY,
    is_session_id,
    principal_key,
    principal_of,
)
from prynai_mcp.sessions.inbox import ReplicaInbox
from prynai_mcp.sessions.keepalive import StreamKeepAlive
from prynai_mcp.sessions.ownership import Lost, Ownership
from prynai_mcp.sessions.registry import SessionRecord, SessionRegistry
from prynai_mcp.sessions.request_ids import GlobalRequestIds, owner_of
from prynai_mcp.sessions.slots import SessionSlots
from prynai_mcp.sessions.streams import SessionStreams
from prynai_mcp.sessions.transport import SessionTransport

logger = logging.getLogger(__name__)

OnSession = Callable[[str], Awaitable[None]]

# How often a resumed request stream asks whether the replica running the request still lives.
_ORPHAN_CHECK_SECONDS = 1.0
# What a session record keeps of `initialize`, at most: a client sending more is refused, not stored.
MAX_CLIENT_INFO_BYTES = 1024
MAX_CAPABILITIES_BYTES = 8192
# Seconds a client refused for capacity (this replica's, or its principal's sessions) is told to wait.
CAPACITY_RETRY_AFTER_SECONDS = 2
PRINCIPAL_RETRY_AFTER_SECONDS = 30


class RoamingSessionManager(StreamableHTTPSessionManager):
    def __init__(
        self,
        app: Server[Any],
        *,
        registry: SessionRegistry,
        events: EventLog,
        inbox: ReplicaInbox,
        ownership: Ownership,
        replica_id: str,
        on_session_end: OnSession,
        on_session_used: OnSession,
        local_idle_seconds: float,
        retry_interval_ms: int,
        keepalive_seconds: float,
        sse_after_seconds: float,
        max_stream_seconds: float = 0,
        json_response: bool,
        max_request_body_size: int,
        max_sessions: int | None,
        slots: SessionSlots,
        security_settings: TransportSecuritySettings | None = None,
        drain: Drain | None = None,
    ) -> None:
        super().__init__(
            app,
            json_response=json_response,
            security_settings=security_settings,
            retry_interval=retry_interval_ms,
            session_idle_timeout=local_idle_seconds,
            max_request_body_size=max_request_body_size,
            max_sessions=max_sessions,
        )
        self.registry = registry
        self.events = events
        self.inbox = inbox
        self.ownership = ownership
        self.replica_id = replica_id
        self._on_session_end = on_session_end
        self._on_session_used = on_session_used
        self._keepalive_seconds = keepalive_seconds
        self._sse_after_seconds = sse_after_seconds
        self._max_stream_seconds = max_stream_seconds
        self.drain = drain or Drain(grace_seconds=0)  # GET streams end with a retry hint when it begins
        self.slots = slots
        self.keepalive = StreamKeepAlive(
            period_seconds=keepalive_seconds, registry=registry, slots=slots.streams, used=self._used
        )  # its round runs in the app's lifespan
        # Local copies, least recently used first: the ones dropped when `max_sessions` are held.
        self._recent: OrderedDict[str, None] = OrderedDict()

    def open_sessions(self) -> int:
        """Sessions with a local copy on this replica (the `prynai.mcp.sessions.active` metric)."""
        return len(self._server_instances)

    # --- requests ---------------------------------------------------------------------------------------------

    async def _handle_stateful_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        session_id = Headers(scope=scope).get(MCP_SESSION_ID_HEADER)
        if session_id is None:
            await self._open_session(scope, receive, send)
            return
        if not is_session_id(session_id):
            # Not one this server issued: no store is asked about it (it could name another key of a session).
            await jsonrpc_error_response(404, "Session not found")(scope, receive, send)
            return

        record = await self.registry.get(session_id)
        local = self._server_instances.get(session_id)
        if record is None or record.owner != principal_of(scope):
            if record is None and local is not None:
                await self._discard_session(session_id, local)  # ended or expired elsewhere
            if record is not None:
                logger.warning("session %s presented with another principal's credential", session_id[:64])
            await jsonrpc_error_response(404, "Session not found")(scope, receive, send)
            return
        await self._used(record)

        method = scope["method"]
        if method == "GET":
            await self._serve_stream(session_id, scope, receive, send)
            return
        if method == "DELETE":
            await self._end_session(record)
            telemetry.session_ended(record.protocol_version, record.created_at)
            await Response(status_code=200)(scope, receive, send)
            return
        if method == "POST":
            body = await read_body(receive) or b""
            body, elsewhere = self._route_answer(body)
            if elsewhere is not None:
                await self.inbox.forward(elsewhere, session_id, body)
                await Response(status_code=202)(scope, receive, send)
                return
            receive = replay(body, receive)

        local = self._server_instances.get(session_id)  # again: the awaits above may have let it expire
        if local is not None and _expiring(local):
            # Its local idle period ran out as this request arrived: the copy is going away and would answer 404
            # for a session that is alive. Let it go and restore a fresh one. No await lies between this check and
            # `handle_request`, which holds the copy open from its first line.
            await self._discard_session(session_id, local)
            local = None
        if local is None:
            local = await self._restore(record)
            if local is None:
                await _busy_replica()(scope, receive, send)
                return
        self._recent[session_id] = None
        self._recent.move_to_end(session_id)
        await local.handle_request(scope, receive, send)
        if local.is_terminated:
            await self._discard_session(session_id, local)

    def _route_answer(self, body: bytes) -> tuple[bytes, str | None]:
        """For a client's answer to a server->client request: the body with the SDK's own id, and the replica that
        asked when it is not this one. Anything else passes through unchanged."""
        try:
            message = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested past what Python parses: the SDK answers 400
            return body, None
        if not isinstance(message, dict) or "method" in message or not ("result" in message or "error" in message):
            return body, None
        owner = owner_of(message.get("id"))
        if owner is None:
            return body, None
        replica_id, local_id = owner
        body = json.dumps({**message, "id": local_id}).encode()
        return body, (None if replica_id == self.replica_id else replica_id)

    async def deliver_forwarded(self, session_id: str, body: bytes) -> None:
        """Hand an answer forwarded by another replica to this replica's copy of the session."""
        local = self._server_instances.get(session_id)
        record = await self.registry.get(session_id)
        if local is None or record is None:
            logger.warning("dropping a forwarded answer: session %s is not open on this replica", session_id[:64])
            return
        scope: Scope = {
            "type": "http",
            "method": "POST",
            "path": "/mcp",
            "query_string": b"",
            "headers": [
                (b"content-type", b"application/json"),
                (b"accept", b"application/json, text/event-stream"),
                (MCP_SESSION_ID_HEADER.lower().encode(), session_id.encode()),
                (b"mcp-protocol-version", record.protocol_version.encode()),
            ],
        }

        async def discard(message: AsgiMessage) -> None:
            return None

        await local.handle_request(scope, replay(body, _never), discard)

    async def _used(self, record: SessionRecord) -> None:
        """Keep what the session recorded (subscriptions, log level, its place in its principal's count) alive as
        long as the session is."""
        try:
            await self._on_session_used(record.session_id)
            if record.principal is not None:
                await self.slots.sessions.renew(record.principal, record.session_id)
        except Exception as error:  # housekeeping: the request itself must not fail for it
            logger.warning("could not renew session %s's subscriptions: %s", record.session_id, error)

    # --- opening a session ------------------------------------------------------------------------------------

    async def _open_session(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A request without a session id. An `initialize` opens a session once it is within every bound: its
        client info and capabilities (they are stored), its principal's live sessions (across the fleet), this
        replica's local copies. Anything else goes to the SDK, which refuses it as it always has."""
        opening = None
        if scope["method"] == "POST":
            body = await read_body(receive, self.max_request_body_size)
            if body is None:
                await jsonrpc_error_response(413, "Payload Too Large: the request body is too large")(
                    scope, receive, send
                )
                return
            receive = replay(body, receive)
            opening = _initialize_request(body)
        if opening is None:
            await super()._handle_stateful_request(scope, receive, send)
            return
        if (problem := _oversized(opening)) is not None:
            await _refusal(400, problem, INVALID_PARAMS, request_id=opening.get("id"))(scope, receive, send)
            return
        if not self.registry_has_room():
            await _busy_replica()(scope, receive, send)
            return
        principal = principal_key(scope)
        session_id = uuid.uuid4().hex
        # Taken before anything else: with Redis down this raises, and the client gets 503 and no session id.
        if not await self.slots.sessions.acquire(principal, session_id):
            limit = self.slots.sessions.limit
            await _refusal(
                429,
                f"Too many open sessions: this principal holds {limit}, the most it may; end one (DELETE) or retry",
                LIMIT_EXCEEDED,
                request_id=opening.get("id"),
                data={"limit": "PRYNAI_MAX_SESSIONS_PER_PRINCIPAL", "max": limit},
                retry_after=PRINCIPAL_RETRY_AFTER_SECONDS,
            )(scope, receive, send)
            return
        scope[PRINCIPAL_SCOPE_KEY] = principal
        try:
            async with self._session_creation_lock:
                transport = await self._admit(session_id)
            if transport is None:
                await _busy_replica()(scope, receive, send)
                return
            await self._serve_opening_request(transport, scope, receive, send)
        finally:
            if not scope.get(RECORDED_SCOPE_KEY):  # refused, failed or cut: it never existed, its slot is free
                with anyio.CancelScope(shield=True):
                    await self._release_slot(principal, session_id)

    def registry_has_room(self) -> bool:
        has_room = getattr(self.registry, "has_room", None)
        return bool(has_room()) if callable(has_room) else True

    async def _release_slot(self, principal: str | None, session_id: str) -> None:
        if principal is None:
            return
        try:
            await self.slots.sessions.release(principal, session_id)
        except Exception as error:  # its lease ends by itself
            logger.warning("could not release session %s from its principal's count: %s", session_id, error)

    # --- GET streams from the event log -----------------------------------------------------------------------

    async def _serve_stream(self, session_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        if "text/event-stream" not in headers.get("accept", "") and "*/*" not in headers.get("accept", ""):
            response = jsonrpc_error_response(406, "Not Acceptable: the client must accept text/event-stream")
            await response(scope, receive, send)
            return
        last_event_id = headers.get("last-event-id")
        if last_event_id:
            parsed = parse_event_id(last_event_id)
            if parsed is None or (
                parsed[1] != GET_STREAM_KEY and not await self.events.has_stream(session_id, parsed[1])
            ):
                await jsonrpc_error_response(400, "Last-Event-ID is not an event id of this session")(
                    scope, receive, send
                )
                return
            after: str | None = parsed[0]
            stream = parsed[1]
        else:
            stream = GET_STREAM_KEY
            after = await self.events.last_entry(session_id, stream)
        slot = uuid.uuid4().hex
        if not await self.slots.streams.acquire(session_id, slot):
            limit = self.slots.streams.limit
            await _refusal(
                409,
                f"Too many open streams: this session holds {limit} GET streams, the most it may; close one first",
                LIMIT_EXCEEDED,
                data={"limit": "PRYNAI_MAX_STREAMS_PER_SESSION", "max": limit},
            )(scope, receive, send)
            return
        try:
            response = StreamingResponse(
                self._stream_events(session_id, stream, after, announce=not last_event_id, slot=slot),
                media_type="text/event-stream",
                headers={
                    "Cache-Control": "no-cache, no-transform",
                    "X-Accel-Buffering": "no",
                    "Connection": "keep-alive",
                },
            )
            await response(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await self.slots.streams.release(session_id, slot)
                except Exception as error:  # its lease ends by itself
                    logger.warning("could not release a stream of session %s: %s", session_id, error)

    async def _stream_events(
        self, session_id: str, stream: str, after: str | None, *, announce: bool, slot: str
    ) -> AsyncIterator[str]:
        # A new stream (no Last-Event-ID) says where it starts, so a client cut off before any other event resumes;
        # on a draining replica it ends at once with that position anyway.
        starts = announce and not self.drain.draining
        yield _start(stream, after, self.retry_interval) if starts else f"retry: {self.retry_interval}\n\n"
        is_request = stream != GET_STREAM_KEY
        ends_at = anyio.current_time() + self._max_stream_seconds if self._max_stream_seconds else math.inf
        # Watched before the first read, so nothing appended from now on is missed; kept alive (session, slot) by
        # the replica's keep-alive round, so waiting costs this stream no call at all.
        with self.events.watch(session_id, stream) as watch, self.keepalive.holding(session_id, slot, watch) as held:
            quiet_since = anyio.current_time()
            while not held.ended:
                now = anyio.current_time()
                if (left := ends_at - now) <= 0:
                    # Held long enough (PRYNAI_SSE_MAX_STREAM_SECONDS): end it ourselves, before a proxy cuts it
                    # without a word; the client reconnects from here, to any replica.
                    yield _handover(stream, after, self.retry_interval)
                    return
                wait = min(left, max(0.0, quiet_since + self._keepalive_seconds - now))
                if is_request:
                    wait = min(wait, _ORPHAN_CHECK_SECONDS)  # is the replica running the request still there?
                woken = None
                with self.drain.stream_wait():
                    woken = await watch.wait(wait)
                if woken is None:
                    # This replica is leaving: the client reconnects (through the balancer, to another replica),
                    # which serves the rest of this stream from the shared log.
                    yield _handover(stream, after, self.retry_interval)
                    return
                batch = await self.events.read(session_id, stream, after) if woken else []
                if not batch and is_request and not held.ended:
                    status = await self.ownership.status(session_id, stream)
                    if isinstance(status, Lost):
                        await self.events.append(session_id, stream, interrupted_error(status.request_id))
                        telemetry.request_interrupted()
                        continue
                    if status == "finished":
                        # Its answer was stored before its claim was released: read once more, and if nothing
                        # follows `after`, the client already had the answer; the stream is over.
                        batch = await self.events.read(session_id, stream, after)
                        if not batch:
                            return
                if not batch:
                    if anyio.current_time() - quiet_since >= self._keepalive_seconds and not held.ended:
                        quiet_since = anyio.current_time()
                        yield ": keepalive\n\n"  # keeps proxies from timing a silent stream out
                    continue
                quiet_since = anyio.current_time()
                for event, message in batch:
                    after = event.partition(".")[0]
                    if message is None:
                        continue
                    yield f"event: message\nid: {event}\ndata: {json.dumps(message, separators=(',', ':'))}\n\n"
                    if stream != GET_STREAM_KEY and _answers(message, stream):
                        return  # a request's stream ends with its response

    # --- session life ----------------------------------------------------------------------------------------

    def _new_transport(self, session_id: str) -> SessionTransport:
        return SessionTransport(
            session_id,
            streams=SessionStreams(self.events, session_id, self.ownership),
            sse_after_seconds=self._sse_after_seconds,
            keepalive_seconds=self._keepalive_seconds,
            max_stream_seconds=self._max_stream_seconds,
            json_response=self.json_response,
            retry_interval_ms=self.retry_interval,
            idle_timeout=self.session_idle_timeout,
            security_settings=self.security_settings,
        )

    def _admit_session(self, requestor: Any) -> StreamableHTTPServerTransport | None:
        # Only requests that are not `initialize` reach the SDK's admission (`_open_session` admits the others):
        # the copy made here only carries the SDK's refusal, and is discarded with it.
        session_id = uuid.uuid4().hex
        transport = self._new_transport(session_id)
        self._server_instances[session_id] = transport
        return transport

    async def _admit(self, session_id: str) -> StreamableHTTPServerTransport | None:
        """A new local copy for `session_id`, making room by dropping the least recently used idle copy when
        `max_sessions` are held; None when every copy is busy. Called under `_session_creation_lock`."""
        if self.max_sessions is not None and len(self._server_instances) >= self.max_sessions:
            idle = next(
                (
                    sid
                    for sid in self._recent
                    if (copy := self._server_instances.get(sid)) is not None
                    and not (isinstance(copy, SessionTransport) and copy.busy)
                ),
                None,
            )
            if idle is None:
                return None
            logger.info("dropping the local copy of session %s to make room", idle, extra={"event": "session_evict"})
            await self._discard_session(idle, self._server_instances[idle])
        transport = self._new_transport(session_id)
        self._server_instances[session_id] = transport
        self._recent[session_id] = None
        return transport

    async def _serve_opening_request(
        self, http_transport: StreamableHTTPServerTransport, scope: Scope, receive: Receive, send: Send
    ) -> None:
        session_id = http_transport.mcp_session_id
        assert session_id is not None and self._task_group is not None
        scope[SESSION_SCOPE_KEY] = session_id
        established = False
        try:
            await self._task_group.start(self._run_session, http_transport, None)
            status = await _status_of(http_transport.handle_request, scope, receive, send)
            established = status is not None and status < 400
        finally:
            if not established:
                await self._discard_session(session_id, http_transport)

    async def _restore(self, record: SessionRecord) -> StreamableHTTPServerTransport | None:
        async with self._session_creation_lock:
            local = self._server_instances.get(record.session_id)
            if local is not None:
                return local
            local = await self._admit(record.session_id)
            if local is None:
                return None
            assert self._task_group is not None
            await self._task_group.start(self._run_session, local, record)
            logger.debug("restored session %s on replica %s", record.session_id, self.replica_id)
            return local

    async def _run_session(
        self,
        transport: StreamableHTTPServerTransport,
        record: SessionRecord | None,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """The session's message loop on this replica: the SDK's `serve_loop` recipe, with ids made global and,
        for a restored session, the connection born in the state its `initialize` left it."""
        session_id = transport.mcp_session_id
        assert session_id is not None
        async with transport.connect() as (read_stream, write_stream):
            task_status.started()
            try:
                idle_scope = transport.idle_scope or anyio.CancelScope()
                with idle_scope:
                    dispatcher: JSONRPCDispatcher[TransportContext] = JSONRPCDispatcher(
                        read_stream,
                        GlobalRequestIds(write_stream, self.replica_id),
                        inline_methods=frozenset({"initialize"}),
                    )
                    connection = Connection.for_loop(
                        dispatcher,
                        session_id=session_id,
                        protocol_version_hint=record.protocol_version if record else None,
                    )
                    if record is not None:
                        connection.client_params = InitializeRequestParams.model_validate(record.client_params)
                        connection.initialized.set()
                    await serve_connection(
                        self.app, dispatcher, connection=connection, lifespan_state=self._lifespan_state
                    )
            except Exception:
                logger.exception("session %s crashed on replica %s", session_id, self.replica_id)
            finally:
                await self._discard_session(session_id, transport)

    async def _discard_session(self, session_id: str, transport: StreamableHTTPServerTransport) -> None:
        """Forget the session's local copy only if `transport` still is that copy: when a stale copy that expired
        ends after a fresh one replaced it, the fresh one stays tracked (else it would run on, untracked)."""
        if self._server_instances.get(session_id) is not transport:
            if not transport.is_terminated:
                with anyio.CancelScope(shield=True):
                    await transport.terminate()
            return
        self._recent.pop(session_id, None)
        await super()._discard_session(session_id, transport)

    async def _end_session(self, record: SessionRecord) -> None:
        session_id = record.session_id
        await self.registry.delete(session_id)
        await self.events.delete_session(session_id)
        await self._on_session_end(session_id)
        await self._release_slot(record.principal, session_id)
        local = self._server_instances.get(session_id)
        if local is not None:
            await self._discard_session(session_id, local)
        logger.info("session %s ended by the client", session_id, extra={"event": "session_end"})


def _initialize_request(body: bytes) -> dict[str, Any] | None:
    """The body's `initialize` request, or None for anything else (the SDK answers that as it does)."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if isinstance(message, dict) and message.get("method") == "initialize" and "id" in message:
        return message
    return None


def _oversized(request: dict[str, Any]) -> str | None:
    """Why an `initialize` cannot be stored as its session's record, or None when it can."""
    params = request.get("params")
    if not isinstance(params, dict):
        return None  # the SDK says what is wrong with it
    for name, limit in (("clientInfo", MAX_CLIENT_INFO_BYTES), ("capabilities", MAX_CAPABILITIES_BYTES)):
        size = len(json.dumps(params.get(name), separators=(",", ":")).encode())
        if size > limit:
            return f"initialize: params.{name} is {size} bytes, at most {limit} are accepted"
    return None


def _refusal(
    status: int,
    message: str,
    code: int,
    *,
    request_id: Any = None,
    data: dict[str, Any] | None = None,
    retry_after: int | None = None,
) -> Response:
    body = json.loads(jsonrpc_error_body(message, code, data))
    body["id"] = request_id
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return Response(json.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _busy_replica() -> Response:
    return _refusal(
        503,
        "Too many open sessions on this replica; retry (another replica may have room)",
        INTERNAL_ERROR,
        data={"limit": "PRYNAI_MAX_SESSIONS"},
        retry_after=CAPACITY_RETRY_AFTER_SECONDS,
    )


def _expiring(local: StreamableHTTPServerTransport) -> bool:
    """A local copy that ended, or whose idle period has run out (the SDK then answers it as terminated)."""
    return local.is_terminated or (local.idle_scope is not None and local.idle_scope.cancel_called)


def interrupted_error(request_id: Any) -> dict[str, Any]:
    """The answer a client gets for a request that died with its replica."""
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "error": {
            "code": INTERRUPTED,
            "message": "Request interrupted: the server replica running it stopped; it may be retried",
            "data": {"reason": "replica_lost"},
        },
    }


def _start(stream: str, after: str | None, retry_ms: int | None) -> str:
    """The first event of a new stream: the reconnect delay, and where the stream starts as an event id with no data.
    A client cut off before any other event (its replica killed) resumes from there, on any replica, instead of
    opening a new stream that starts "from now" and misses what came in between."""
    retry = f"retry: {retry_ms}\n" if retry_ms is not None else ""
    return f"{retry}id: {event_id(after or '0', stream)}\ndata: \n\n"


def _handover(stream: str, after: str | None, retry_ms: int | None) -> str:
    """A draining replica's last event on a stream: where the client stands, as an event id (so a client that got no
    event yet resumes from here too; entry 0 precedes every entry of either log), and when to reconnect."""
    retry = f"retry: {retry_ms}\n" if retry_ms is not None else ""
    return f"id: {event_id(after or '0', stream)}\n{retry}data: \n\n"


def _answers(message: dict[str, Any], stream: str) -> bool:
    return "method" not in message and ("result" in message or "error" in message) and str(message.get("id")) == stream


async def _never() -> AsgiMessage:
    await anyio.sleep_forever()
    raise AssertionError("unreachable")


async def _status_of(
    app: Callable[[Scope, Receive, Send], Awaitable[None]], scope: Scope, receive: Receive, send: Send
) -> int | None:
    status: int | None = None

    async def watch(message: AsgiMessage) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        await send(message)

    await app(scope, receive, watch)
    return status
