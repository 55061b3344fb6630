"""HTTP/1.1 for the load test's users: keep-alive connections on (gevent-patched) sockets, JSON and SSE bodies.

Small on purpose: a user needs to hold an SSE stream open for minutes, cut it at will, resume it with
`Last-Event-ID`, and tell "the connection died before any answer" from "the balancer answered 502"; a client library
hides the first and the last. Locust's own FastHttpUser runs on geventhttpclient, which this mirrors: every socket
operation yields to the other users' greenlets.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

CONNECT_TIMEOUT = 5.0


class WireError(Exception):
    """The exchange failed below HTTP: refused, reset, closed or timed out, before or while the answer arrived."""


@dataclass(frozen=True)
class Endpoint:
    """Where `/mcp` is: scheme, host, port and path, and the bearer token to send, if any."""

    scheme: str
    host: str
    port: int
    path: str
    token: str | None = None
    # The loopback address connections are made from: each load-test user its own, so that behind the balancer
    # (which names it in X-Forwarded-For) every user is its own principal, as real clients are. None: the default.
    source: str | None = None

    @classmethod
    def from_url(cls, url: str, token: str | None = None) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, parts.path or "/mcp", token)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{self.path}"

    def for_client(self, serial: int) -> Endpoint:
        """This endpoint as the `serial`-th client sees it: from its own address in 127.0.0.0/8 when the endpoint
        is on loopback (a remote one is reached from the machine's own address)."""
        if not self.host.startswith("127."):
            return self
        high, low = divmod(serial, 250)
        return replace(self, source=f"127.1.{high % 250}.{low + 1}")

    @property
    def authority(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


@dataclass
class SseEvent:
    id: str | None
    data: dict[str, Any] | None  # None: an event without data (a priming event, a position)
    retry: int | None = None


@dataclass
class Response:
    connection: Connection
    status: int
    headers: dict[str, str]
    _done: bool = False

    @property
    def is_sse(self) -> bool:
        return self.headers.get("content-type", "").startswith("text/event-stream")

    def read(self) -> bytes:
        """The whole body; the connection is then free for the next request (or closed, if the server said so)."""
        try:
            body = b"".join(self._chunks())
        except (OSError, ValueError) as error:
            self.connection.close()
            raise WireError(f"body cut: {error!r}") from error
        self._finish()
        return body

    def json(self) -> Any:
        body = self.read()
        return json.loads(body) if body else None

    def events(self) -> Iterator[SseEvent]:
        """The SSE events as they arrive (comments skipped). Ends when the body ends; raises WireError when cut."""
        pending = ""
        event_id: str | None = None
        retry: int | None = None
        data: list[str] = []
        try:
            for chunk in self._chunks():
                pending += chunk.decode()
                *lines, pending = pending.split("\n")
                for raw in lines:
                    line = raw[:-1] if raw.endswith("\r") else raw
                    if line == "":
                        if data or event_id is not None:
                            text = "\n".join(data).strip()
                            yield SseEvent(event_id, json.loads(text) if text else None, retry)
                        event_id, retry, data = None, None, []
                    elif line.startswith("id:"):
                        event_id = line[3:].strip()
                    elif line.startswith("retry:"):
                        retry = int(line[6:].strip())
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
        except (OSError, ValueError) as error:
            self.connection.close()
            raise WireError(f"stream cut: {error!r}") from error
        self._finish()

    def abandon(self) -> None:
        """Stop reading (an open stream): the connection cannot be reused."""
        if not self._done:
            self.connection.close()
            self._done = True

    def _finish(self) -> None:
        self._done = True
        if self.headers.get("connection", "").lower() == "close":
            self.connection.close()
        else:
            self.connection.finished()

    def _chunks(self) -> Iterator[bytes]:
        reader = self.connection.reader()
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size_line = reader.readline()
                if not size_line.endswith(b"\n"):
                    raise ValueError("connection closed inside a chunked body")
                size = int(size_line.split(b";", 1)[0], 16)
                if size == 0:
                    reader.readline()  # the blank line after the last chunk (no trailers are sent)
                    return
                chunk = reader.read(size + 2)
                if len(chunk) != size + 2:
                    raise ValueError("connection closed inside a chunk")
                yield chunk[:-2]
        elif "content-length" in self.headers:
            length = int(self.headers["content-length"])
            if length:
                body = reader.read(length)
                if len(body) != length:
                    raise ValueError("connection closed inside the body")
                yield body
        else:  # neither: the body runs to the end of the connection
            self.headers["connection"] = "close"
            while block := reader.read1(65536):
                yield block


@dataclass
class Connection:
    """One keep-alive HTTP/1.1 connection to the endpoint, opened on first use and again after it was closed.

    A request is never sent twice. If the connection turns out closed before any answer, the request may have run
    (HAProxy closes the client's connection without a word when a replica dies under a request it sent on a reused
    connection, so that the client decides), and the caller is told so; to keep that from happening to requests
    that simply found an idle connection closed by its peer, a connection idle longer than `max_idle` is not reused.
    """

    endpoint: Endpoint
    timeout: float = 30.0
    max_idle: float = 10.0  # well under idle timeouts of balancers (HAProxy here: 30 s) and the server (75 s)
    _sock: socket.socket | None = None
    _file: Any = None
    _idle_since: float | None = field(default=None)  # when the last answer ended, while the connection is reusable

    def reader(self) -> Any:
        if self._file is None:
            raise ValueError("connection closed")
        return self._file

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None
        self._file = None
        self._idle_since = None

    def finished(self) -> None:
        """The answer was read to its end: the connection may carry the next request."""
        if self._sock is not None:
            self._idle_since = time.monotonic()

    def request(
        self, method: str, headers: dict[str, str], body: bytes = b"", *, timeout: float | None = None
    ) -> Response:
        """Send a request to the endpoint's path and read the status line and headers (the body is the caller's)."""
        head = [f"{method} {self.endpoint.path} HTTP/1.1", f"Host: {self.endpoint.authority}"]
        if self.endpoint.token:
            head.append(f"Authorization: Bearer {self.endpoint.token}")
        head.extend(f"{name}: {value}" for name, value in headers.items())
        if body or method == "POST":
            head.append(f"Content-Length: {len(body)}")
        wire = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        if self._sock is not None and (self._idle_since is None or time.monotonic() - self._idle_since > self.max_idle):
            self.close()  # idle too long (or never finished): a new connection costs less than a doubtful one
        reused = self._sock is not None
        self._idle_since = None
        try:
            if self._sock is None:
                self._open()
            assert self._sock is not None
            self._sock.settimeout(timeout or self.timeout)
            self._sock.sendall(wire)
            status_line = self.reader().readline()
            if not status_line:
                raise WireError(f"{method}: connection closed before the answer{' (reused)' if reused else ''}")
            return self._read_head(status_line)
        except (OSError, ValueError) as error:
            self.close()
            raise WireError(f"{method}: {error!r}") from error
        except WireError:
            self.close()
            raise

    def _open(self) -> None:
        source = (self.endpoint.source, 0) if self.endpoint.source else None
        sock = socket.create_connection(
            (self.endpoint.host, self.endpoint.port), timeout=CONNECT_TIMEOUT, source_address=source
        )
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.endpoint.scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.endpoint.host)
        self._sock = sock
        self._file = sock.makefile("rb", buffering=65536)

    def _read_head(self, status_line: bytes) -> Response:
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ValueError(f"not an HTTP status line: {status_line[:80]!r}")
        headers: dict[str, str] = {}
        while True:
            line = self.reader().readline()
            if not line.endswith(b"\n"):
                raise ValueError("connection closed inside the headers")
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return Response(self, int(parts[1]), headers)
