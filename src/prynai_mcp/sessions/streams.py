"""What one session's transport stores, and when a request's stream becomes resumable.

`SessionStreams` is the SDK `EventStore` of one session: every message its transport sends is appended to the
session's event log, so a `Last-Event-ID` can resume it on any replica. A request answered before anything else
(most calls) is the exception: `SessionTransport` sends that answer as one JSON body, and nothing of it is stored or
claimed, since a client given no event id can never resume it. The moment a request's response becomes an SSE stream
(`stream()`), this replica claims the request (so another replica can tell its client if this one dies) and, when
nothing carries an event id yet, stores a priming event. From then on every message of that stream is stored, and
the claim is released once its answer is stored.

Invariant: a client never holds an event id of a stream whose earlier messages were not stored, and never holds one
of a request nobody claimed. `stream()` and `store_event()` are serialized per stream for that: a message stored
while the stream is being primed waits for the priming entry, so storage order stays wire order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import anyio
from mcp.server.streamable_http import EventCallback, EventMessage, EventStore
from mcp_types import JSONRPCError, JSONRPCMessage, JSONRPCResponse, jsonrpc_message_adapter

from prynai_mcp.sessions.events import EventLog, Message, parse_event_id
from prynai_mcp.sessions.ownership import Ownership

logger = logging.getLogger(__name__)

# The event id of an answer that was sent as a JSON body and not stored: the SDK omits an empty id on the wire.
UNSTORED = ""


@dataclass
class _Request:
    request_id: Any
    stored: bool = False  # something of this stream is stored (or being stored): it carries an event id
    streamed: bool = False  # the response is an SSE stream: store everything from now on
    claimed: bool = False
    priming: anyio.Event | None = None  # set while `stream()` claims and primes


class SessionStreams(EventStore):
    def __init__(self, log: EventLog, session_id: str, ownership: Ownership) -> None:
        self._log = log
        self._session_id = session_id
        self._ownership = ownership
        self._requests: dict[str, _Request] = {}

    def begin(self, stream: str, request_id: Any) -> None:
        """A request was received: until `stream()` or its first message, its answer may go out unstored."""
        self._requests[stream] = _Request(request_id)

    async def stream(self, stream: str, *, prime: bool) -> str | None:
        """The request's response becomes an SSE stream: claim it; return a priming event id when `prime` is set and
        no message of the stream carries one yet."""
        request = self._requests.get(stream)
        if request is None:
            return None  # already answered
        request.streamed = True
        request.priming = anyio.Event()
        try:
            await self._ownership.claim(self._session_id, stream, request.request_id)
            request.claimed = True
            if prime and not request.stored:
                request.stored = True
                return await self._log.append(self._session_id, stream, None)
            return None
        except Exception as error:  # the store is down: the stream still flows, it just cannot be resumed
            logger.warning("request %s of session %s is not resumable: %s", stream, self._session_id[:64], error)
            return None
        finally:
            request.priming.set()
            request.priming = None

    async def store_event(self, stream_id: str, message: JSONRPCMessage | None) -> str:
        request = self._requests.get(stream_id)
        if request is None:
            return await self._append(stream_id, message)
        if request.priming is not None:
            await request.priming.wait()
        if not answers(message, stream_id):
            request.stored = True
            return await self._append(stream_id, message)
        del self._requests[stream_id]
        if not request.stored and not request.streamed:
            return UNSTORED  # answered before anything else: it goes out as a JSON body
        event = await self._append(stream_id, message)
        if request.claimed:
            await self._release(stream_id)
        return event

    async def replay_events_after(self, last_event_id: str, send_callback: EventCallback) -> str | None:
        # GET requests never reach the SDK transport (the manager serves them from the log on any replica); kept
        # for the interface's sake.
        parsed = parse_event_id(last_event_id)
        if parsed is None:
            return None
        entry, stream = parsed
        for event, message in await self._log.read(self._session_id, stream, entry):
            if message is not None:
                await send_callback(EventMessage(jsonrpc_message_adapter.validate_python(message), event))
        return stream

    async def _append(self, stream: str, message: JSONRPCMessage | None) -> str:
        # Called from the SDK's message router: raising would stop it and with it the whole session. A message that
        # cannot be stored is still delivered live; only its resumption is lost.
        try:
            return await self._log.append(self._session_id, stream, None if message is None else _to_wire(message))
        except Exception as error:
            logger.warning("event of session %s not stored: %s", self._session_id[:64], error)
            return UNSTORED

    async def _release(self, stream: str) -> None:
        with anyio.CancelScope(shield=True):
            try:
                await self._ownership.release(self._session_id, stream)
            except Exception:  # the answer is stored; a stale claim only matters if this replica dies
                logger.warning("could not release request %s of session %s", stream, self._session_id[:64])


def answers(message: JSONRPCMessage | None, stream: str) -> bool:
    """Whether `message` is the response that ends the request stream `stream`."""
    return isinstance(message, JSONRPCResponse | JSONRPCError) and str(message.id) == stream


def _to_wire(message: JSONRPCMessage) -> Message:
    return dict(message.model_dump(by_alias=True, mode="json", exclude_unset=True))
