"""The two MCP wires as the load test's users speak them, and what one JSON-RPC request came to (an `Answer`).

- session-based (2025-11-25): `initialize` returns `Mcp-Session-Id`; every later request carries it; a POST is
  answered with one JSON body or an SSE stream; a stream cut mid-way is resumed with `GET` + `Last-Event-ID`, on
  whichever replica the balancer picks, until the answer (or `-32054`, "interrupted") arrives.
- 2026-07-28: no session; each request carries the `_meta` envelope and `Mcp-Method` / `Mcp-Name` headers.

Documented answers (README, "HTTP endpoints and errors") decide the `Outcome`: 404 "Session not found", `-32054` the
replica running the request died, `-32055` + 503 + `Retry-After` a replica shutting down, `-32053` Redis unreachable.
A 502/503/504 that carries no JSON-RPC body is the balancer's own: the replica went away under the request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import gevent  # type: ignore[import-untyped]
from wire import Connection, Endpoint, Response, WireError

LEGACY = "2025-11-25"
MODERN = "2026-07-28"
ACCEPT = "application/json, text/event-stream"
COUNTER_URI = "prynai://counter"

INTERRUPTED = -32054
SHUTTING_DOWN = -32055
STORE_UNAVAILABLE = -32053

RESUME_SECONDS = 20.0  # how long a cut request stream is resumed before the request counts as cut


class Outcome(StrEnum):
    OK = "ok"
    NOT_FOUND = "session not found"  # 404: the session is gone
    INTERRUPTED = "interrupted"  # -32054, reported on the resumed stream
    CUT = "cut"  # no answer at all: the connection died, or the balancer answered for a replica that went away
    DRAINING = "shutting down"  # 503 + -32055: nothing was done, send it again
    ERROR = "error"


@dataclass
class Answer:
    outcome: Outcome
    detail: str = ""  # for failures: a short, stable text (Locust groups failures by it)
    result: Any = None  # the JSON-RPC result
    session_id: str | None = None
    retry_after: float = 0.0
    progress: list[float] = field(default_factory=list)  # progress values, in arrival order (duplicates kept)
    resumed: int = 0  # how many times the request's stream was resumed with Last-Event-ID
    duplicates: int = 0  # events delivered twice (same event id) across the stream and its resumptions
    length: int = 0  # bytes of body read


def envelope() -> dict[str, Any]:
    """The `_meta` every 2026-07-28 request carries in place of a handshake."""
    return {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "prynai-load", "version": "1"},
    }


def request(request_id: int, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def initialize(request_id: int) -> dict[str, Any]:
    return request(
        request_id,
        "initialize",
        {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "prynai-load", "version": "1"}},
    )


def legacy_headers(session_id: str | None, *, stream: bool = False) -> dict[str, str]:
    headers = {"Accept": "text/event-stream" if stream else ACCEPT, "Mcp-Protocol-Version": LEGACY}
    if not stream:
        headers["Content-Type"] = "application/json"
    if session_id:
        headers["Mcp-Session-Id"] = session_id
    return headers


def modern_headers(method: str, name: str | None) -> dict[str, str]:
    headers = {"Accept": ACCEPT, "Content-Type": "application/json", "Mcp-Protocol-Version": MODERN}
    headers["Mcp-Method"] = method
    if name is not None:
        headers["Mcp-Name"] = name
    return headers


def classify_status(response: Response, body: bytes) -> Answer | None:
    """The Answer a non-200 status means, or None for 200/202."""
    status = response.status
    if status in (200, 202):
        return None
    error = _error_of(body)
    if status == 404:
        return Answer(Outcome.NOT_FOUND, "HTTP 404 session not found", length=len(body))
    if status == 503 and error is not None and error.get("code") == SHUTTING_DOWN:
        retry_after = float(response.headers.get("retry-after", "1") or 1)
        return Answer(Outcome.DRAINING, "HTTP 503 -32055 shutting down", retry_after=retry_after, length=len(body))
    if status in (502, 503, 504) and error is None:
        return Answer(Outcome.CUT, f"HTTP {status} from the balancer", length=len(body))
    code = f" {error.get('code')}" if error is not None else ""
    return Answer(Outcome.ERROR, f"HTTP {status}{code}: {_short(body)}", length=len(body))


def answer_of(message: dict[str, Any], length: int) -> Answer:
    """The Answer a JSON-RPC response message means."""
    if "error" in message:
        code = message["error"].get("code")
        if code == INTERRUPTED:
            return Answer(Outcome.INTERRUPTED, "JSON-RPC -32054 interrupted", length=length)
        text = str(message["error"].get("message", ""))[:80]
        return Answer(Outcome.ERROR, f"JSON-RPC {code}: {text}", length=length)
    return Answer(Outcome.OK, result=message.get("result"), length=length)


def exchange(
    conn: Connection,
    headers: dict[str, str],
    message: dict[str, Any],
    *,
    resume_headers: Callable[[str], dict[str, str]] | None = None,
) -> Answer:
    """POST one JSON-RPC message and read its answer, a JSON body or an SSE stream; with `resume_headers` (the
    session-based wire) a stream cut after an event id is resumed with GET + Last-Event-ID until it is answered."""
    body = json.dumps(message, separators=(",", ":")).encode()
    try:
        response = conn.request("POST", headers, body)
    except WireError as error:
        return Answer(Outcome.CUT, f"no answer: {_kind(error)}")
    if not response.is_sse:
        try:
            raw = response.read()
        except WireError as error:
            return Answer(Outcome.CUT, f"body cut: {_kind(error)}")
        failed = classify_status(response, raw)
        if failed is not None:
            if failed.outcome is Outcome.CUT:
                # The balancer's own error page: it may close the connection right after (HAProxy does, without
                # saying so), and a retry sent on it would fail in turn.
                conn.close()
            return failed
        try:
            answer = answer_of(json.loads(raw), len(raw)) if raw else Answer(Outcome.OK)
        except (ValueError, AttributeError):
            return Answer(Outcome.ERROR, f"HTTP {response.status}, not JSON-RPC: {_short(raw)}")
        answer.session_id = response.headers.get("mcp-session-id")
        return answer
    if response.status != 200:
        response.abandon()
        return Answer(Outcome.ERROR, f"HTTP {response.status} with an event stream")
    stream = _Stream(message.get("id"))
    session_id = response.headers.get("mcp-session-id")
    followed = stream.follow(response)
    if followed is None and resume_headers is not None and stream.last_id is not None:
        followed = _resume(conn.endpoint, stream, resume_headers)
    answer = followed or Answer(Outcome.CUT, f"stream cut: {stream.cut or 'ended without an answer'}")
    answer.session_id = session_id
    answer.progress = stream.progress
    answer.resumed = stream.resumed
    answer.duplicates = stream.duplicates
    return answer


@dataclass
class _Stream:
    """One request's stream, across resumptions: the events seen (by id) and where it stands."""

    request_id: Any
    last_id: str | None = None
    seen: set[str] = field(default_factory=set)
    progress: list[float] = field(default_factory=list)
    resumed: int = 0
    duplicates: int = 0
    length: int = 0
    cut: str = ""

    def follow(self, response: Response) -> Answer | None:
        """Read events until the answer (returned) or the end of the stream (None; `cut` says why)."""
        try:
            for event in response.events():
                if event.id is not None:
                    self.last_id = event.id
                if event.data is None:
                    continue
                if event.id is not None:
                    if event.id in self.seen:
                        self.duplicates += 1  # resumption promises each event once
                        continue
                    self.seen.add(event.id)
                self.length += len(json.dumps(event.data))
                data = event.data
                if data.get("method") == "notifications/progress":
                    self.progress.append(float(data["params"]["progress"]))
                elif "method" not in data and data.get("id") == self.request_id:
                    response.abandon()  # a request's stream ends with its answer; no need to wait for the end
                    return answer_of(data, self.length)
        except WireError as error:
            self.cut = _kind(error)
            return None
        self.cut = "ended without an answer"
        return None


def _resume(endpoint: Endpoint, stream: _Stream, resume_headers: Callable[[str], dict[str, str]]) -> Answer | None:
    deadline = time.monotonic() + RESUME_SECONDS
    while time.monotonic() < deadline:
        assert stream.last_id is not None
        conn = Connection(endpoint, timeout=30.0)
        try:
            try:
                response = conn.request("GET", resume_headers(stream.last_id))
            except WireError as error:
                stream.cut = _kind(error)
                gevent.sleep(0.5)
                continue
            stream.resumed += 1
            if response.status != 200:
                raw = response.read() if not response.is_sse else b""
                failed = classify_status(response, raw)
                if failed is not None and failed.outcome is not Outcome.CUT:
                    return failed
                gevent.sleep(0.5)
                continue
            answer = stream.follow(response)
            if answer is not None:
                return answer
            gevent.sleep(0.2)
        finally:
            conn.close()
    return None


def _error_of(body: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return error if isinstance(error, dict) else None


def _kind(error: BaseException) -> str:
    """A stable name for a transport failure (Locust groups failures by their text)."""
    cause = error.__cause__
    if isinstance(cause, TimeoutError):
        return "timed out"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, ConnectionResetError | BrokenPipeError):
        return "connection reset"
    return "connection closed"


def _short(body: bytes) -> str:
    return body[:120].decode(errors="replace").replace("\n", " ")
