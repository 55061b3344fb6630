"""uvicorn's httptools protocol with the limits on a connection that uvicorn leaves out.

Guarantees, per connection (`prynai-mcp serve` runs uvicorn with `http_protocol(...)`):
- a request's head (request line and headers) must be complete within `read_timeout` seconds of its first byte,
  or the client gets 408 with a JSON-RPC error body and the connection is closed (a client trickling its headers
  holds a connection for no longer than that);
- a head larger than `max_header_bytes` gets 431 with a JSON-RPC error body and the connection is closed, before
  more of it is buffered (uvicorn's own cap, `h11_max_incomplete_event_size`, applies to h11 only);
- a connection that sends nothing is closed after the keep-alive period, as an idle one between requests is
  (uvicorn arms that timer only after a first response);
- once a response is complete, the rest of a request body the app left unread is read and dropped for at most
  `read_timeout` seconds, then the connection is closed (a client trickling it holds nothing for longer).
The request body's own deadline is `http.read_timeout.BodyReadTimeout`'s (an ASGI middleware: it can answer 408).

Built on uvicorn 0.54's `HttpToolsProtocol`: its parser callbacks (`on_message_begin`, `on_url`, `on_header`,
`on_headers_complete`, `on_message_complete`, `on_response_complete`) and its keep-alive timer attributes.
"""

from __future__ import annotations

import asyncio
import http
import logging
from typing import Any

from mcp_types import INVALID_REQUEST
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from prynai_mcp.http.errors import jsonrpc_error_body

logger = logging.getLogger(__name__)


def http_protocol(*, read_timeout: float, max_header_bytes: int) -> type[asyncio.Protocol]:
    """The protocol class to give uvicorn (`Config(http=...)`) with these limits."""
    return type(
        "BoundedHttpToolsProtocol",
        (BoundedHttpToolsProtocol,),
        {"read_timeout": read_timeout, "max_header_bytes": max_header_bytes},
    )


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    read_timeout: float = 30.0
    max_header_bytes: int = 32 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None  # for a body the app left unread
        self._in_head = True  # the next byte belongs to a request's head (or nothing came yet)
        self._in_body = False  # headers complete, body not yet
        self._head_bytes = 0
        self._refused = False

    # --- connection --------------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that never sends a byte is an idle one: it gets the keep-alive period, no longer.
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        self._stop_body_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._start_head_timer()
            self._head_bytes += len(data)  # counted as it arrives: a head never completes to be measured
        super().data_received(data)
        if self._in_head and self._head_bytes > self.max_header_bytes and not self._refused:
            # Still no end of the head (the chunk ending it may carry body bytes too, and is measured exactly below).
            self._refuse(http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, self._too_large())

    # --- parser callbacks --------------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._start_head_timer()

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._refused:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._in_head = False
        self._in_body = True
        self._stop_head_timer()
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.max_header_bytes:
            self._refuse(http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, self._too_large())
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._in_body = False
        self._stop_body_timer()
        self._in_head = True
        self._head_bytes = 0
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._in_body and not self.transport.is_closing():
            # The app answered without the whole body (a 413, a 401): the rest is read and dropped, so a client
            # still sending gets its answer rather than a reset, but for no longer than a body may take.
            self._body_timer = self.loop.call_later(self.read_timeout, self._unread_body_timed_out)

    # --- limits ------------------------------------------------------------------------------------------------

    def _start_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.read_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _stop_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _unread_body_timed_out(self) -> None:
        self._body_timer = None
        if self._in_body and not self.transport.is_closing():
            self.transport.close()

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._in_head:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head arriving while an answer streams: its time starts once that answer is done.
            self._start_head_timer()
            return
        message = (
            f"Request Timeout: the request headers did not arrive within {self.read_timeout:g} s "
            "(PRYNAI_REQUEST_READ_TIMEOUT_SECONDS)"
        )
        self._refuse(http.HTTPStatus.REQUEST_TIMEOUT, message)

    def _too_large(self) -> str:
        return f"Request headers too large: at most {self.max_header_bytes} bytes (PRYNAI_MAX_HEADER_BYTES)"

    def _refuse(self, status: http.HTTPStatus, message: str) -> None:
        """Answer `status` with a JSON-RPC error body and close; nothing more of this connection is read."""
        self._refused = True
        self._stop_head_timer()
        self._unset_keepalive_if_required()
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "unknown"
        logger.warning(message, extra={"event": "connection_refused", "status": int(status), "client": client})
        body = jsonrpc_error_body(message, INVALID_REQUEST)
        head = (
            f"HTTP/1.1 {status.value} {status.phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()
