"""The load test's Locust users: one speaks the session-based wire, one the 2026-07-28 wire; both think between calls.

`SessionUser` opens a session (initialize, notifications/initialized), opens its GET stream, subscribes to
`prynai://counter`, then makes calls drawn from the mix (add, echo, bump_counter, resources/read, long_task with
progress over SSE); after `calls_per_session` calls (give or take half) it unsubscribes, waits for the counter
updates it is owed, ends the session with DELETE and opens the next one. `ModernUser` sends `server/discover`, then
calls with the `_meta` envelope and `Mcp-Method` / `Mcp-Name` headers.

Every attempt is reported to Locust as `<method> <tool or resource>` under the wire's protocol version, and booked
in the `Ledger`. An attempt the fault explains (-32054 "interrupted", a connection cut while a replica was down,
-32055 "shutting down") is retried once. A session is lost when it answers 404, or when a request fails (other than
by a reported interruption) right after one that already failed.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gevent  # type: ignore[import-untyped]
from gevent.event import Event  # type: ignore[import-untyped]
from ledger import Ledger, Window
from locust import User, constant, task
from protocol import (
    COUNTER_URI,
    LEGACY,
    MODERN,
    Answer,
    Outcome,
    envelope,
    exchange,
    initialize,
    legacy_headers,
    modern_headers,
    request,
)
from wire import Connection, Endpoint, WireError

GET_STREAM_TIMEOUT = 35.0  # the server sends a keep-alive every 10 s on a quiet stream
GET_STREAM_GIVE_UP = 20.0  # a GET stream that cannot be opened again for this long: the session is lost
AUDIT_QUIET_SECONDS = 10.0  # a replay of the log goes quiet this long once it has sent everything
EXPLAINED = {"interrupted", "draining"}


class McpFailure(Exception):
    """What Locust shows for a failed request (grouped by this text)."""


@dataclass
class Plan:
    """What the runner sets before users spawn: where to go, what to do, and where to book it."""

    endpoint: Endpoint
    ledger: Ledger
    think_seconds: float = 1.0  # mean think time between two calls (uniform in 0.5x .. 1.5x)
    calls_per_session: int = 30
    session_mix: dict[str, int] = field(default_factory=dict)
    modern_mix: dict[str, int] = field(default_factory=dict)
    long_steps: int = 3
    long_delay: float = 0.2
    drain_seconds: float = 10.0  # how long a closing session waits for the counter updates it is owed
    stopping: Event = field(default_factory=Event)
    finished_users: int = 0

    def think(self) -> bool:
        """Sleep one think time; True when the run is ending (then at once)."""
        return bool(self.stopping.wait(random.uniform(0.5, 1.5) * self.think_seconds))


class McpUser(User):
    abstract = True
    wait_time = constant(0)
    plan: ClassVar[Plan]
    wire: ClassVar[str]
    serial: ClassVar[int] = 0
    endpoint: Endpoint

    def on_start(self) -> None:
        McpUser.serial += 1
        self.label = f"u{McpUser.serial}"
        self.endpoint = self.plan.endpoint.for_client(McpUser.serial)

    def report(self, name: str, started: float, answer: Answer) -> str:
        kind = self.plan.ledger.record(name, started, answer)
        self.environment.events.request.fire(
            request_type=self.wire,
            name=name,
            response_time=(time.monotonic() - started) * 1000,
            response_length=answer.length,
            exception=None if kind == "ok" else McpFailure(f"{kind}: {answer.detail}"),
            context={},
        )
        return kind

    def finish(self) -> None:
        self.plan.finished_users += 1
        # Parked until the runner stops Locust: a user that returned would be run again.
        gevent.sleep(3600)


class SessionUser(McpUser):
    """The session-based wire (2025-11-25)."""

    wire = LEGACY

    @task
    def sessions(self) -> None:
        serial = 0
        while not self.plan.stopping.is_set():
            serial += 1
            LegacySession(self, f"{self.label}-s{serial}").run()
        self.finish()


class ModernUser(McpUser):
    """The 2026-07-28 wire: no session, every request self-describing."""

    wire = MODERN

    @task
    def calls(self) -> None:
        conn = Connection(self.endpoint)
        next_id = 1
        discovered = False
        while not self.plan.stopping.is_set():
            if not discovered:
                answer = self._call(conn, next_id, "server/discover", None, {})
                next_id += 2
                discovered = answer.outcome is Outcome.OK and MODERN in answer.result.get("supportedVersions", [])
                if answer.outcome is Outcome.OK and not discovered:
                    self.plan.ledger.error(f"server/discover: {MODERN} not among the supported versions")
                if self.plan.think():
                    break
                continue
            action = pick(self.plan.modern_mix)
            method, target, params = action_call(action)
            answer = self._call(conn, next_id, method, target, params, bump=action == "bump")
            next_id += 2
            if answer.outcome is Outcome.OK:
                check(self.plan.ledger, action, params, answer.result)
            if self.plan.think():
                break
        conn.close()
        self.finish()

    def _call(
        self,
        conn: Connection,
        request_id: int,
        method: str,
        target: str | None,
        params: dict[str, Any],
        bump: bool = False,
    ) -> Answer:
        name = f"{method} {target}" if target else method
        headers = modern_headers(method, target)
        answer = Answer(Outcome.ERROR)
        for attempt in (0, 1):
            message = request(request_id + attempt, method, {**params, "_meta": envelope()})
            started = time.monotonic()
            if bump:
                with self.plan.ledger.gate.bump():
                    answer = exchange(conn, headers, message)
                    self.plan.ledger.bumped(answer.outcome is Outcome.OK)
            else:
                answer = exchange(conn, headers, message)
            kind = self.report(name, started, answer)
            if kind not in EXPLAINED:
                return answer
            if attempt == 0:
                self.plan.ledger.retried += 1
                gevent.sleep(answer.retry_after)
        return answer


def pick(mix: dict[str, int]) -> str:
    return random.choices(list(mix), weights=list(mix.values()))[0]


def action_call(action: str) -> tuple[str, str | None, dict[str, Any]]:
    """(JSON-RPC method, tool or resource, params) of one action of the mix."""
    if action == "add":
        a, b = random.randint(0, 10**6), random.randint(0, 10**6)
        return "tools/call", "add", {"name": "add", "arguments": {"a": a, "b": b}}
    if action == "echo":
        return "tools/call", "echo", {"name": "echo", "arguments": {"text": f"hello {random.randint(0, 10**9)}"}}
    if action == "bump":
        return "tools/call", "bump_counter", {"name": "bump_counter", "arguments": {}}
    if action == "read":
        return "resources/read", COUNTER_URI, {"uri": COUNTER_URI}
    raise ValueError(f"unknown action {action}")


def check(ledger: Ledger, action: str, params: dict[str, Any], result: Any) -> None:
    """A successful answer must also be the right one."""
    try:
        if action == "add":
            arguments = params["arguments"]
            good = result["structuredContent"]["result"] == arguments["a"] + arguments["b"]
        elif action == "echo":
            good = result["structuredContent"]["result"] == params["arguments"]["text"]
        elif action == "bump":
            good = isinstance(result["structuredContent"]["result"], int)
        elif action == "read":
            good = int(result["contents"][0]["text"]) >= 0
        else:
            good = True
        good = good and not result.get("isError", False)
    except (KeyError, IndexError, TypeError, ValueError):
        good = False
    if not good:
        ledger.error(f"{action}: wrong result")


class LegacySession:
    """One session-based session, from initialize to DELETE."""

    def __init__(self, user: SessionUser, label: str) -> None:
        self.user = user
        self.plan = user.plan
        self.ledger = user.plan.ledger
        self.label = label
        self.conn = Connection(user.endpoint)
        self.session_id: str | None = None
        self.next_id = 0
        self.failed_before = False
        self.lost: str | None = None
        self.stream: GetStream | None = None
        self.window: Window | None = None
        self.trail: list[str] = []  # the session's last attempts, for the report of a lost session

    def run(self) -> None:
        try:
            if self.open():
                calls = random.randint(max(1, self.plan.calls_per_session // 2), self.plan.calls_per_session * 3 // 2)
                for _ in range(calls):
                    if self.lost or self.plan.think():
                        break
                    self.act(pick(self.plan.session_mix))
            if not self.lost and self.session_id is not None:
                self.close()
        finally:
            if self.stream is not None:
                self.stream.stop()
            if self.window is not None and self.lost:
                self.window.excluded = "session lost"
            self.conn.close()
        if (self.lost or self.session_id is None) and not self.plan.stopping.is_set():
            self.plan.think()  # as a client would, before it tries again with a new session

    def lose(self, why: str) -> None:
        if self.lost is None:
            self.lost = why
            self.ledger.lose(self.label, why, self.session_id, self.trail[-6:])

    # --- one request, with the retry and the session-lost rules ----------------------------------------------

    def call(self, name: str, method: str, params: dict[str, Any] | None, *, bump: bool = False) -> Answer:
        answer = Answer(Outcome.ERROR)
        for attempt in (0, 1):
            self.next_id += 1
            message = request(self.next_id, method, params)
            started = time.monotonic()
            if bump:
                with self.ledger.gate.bump():
                    answer = self.exchange(message)
                    self.ledger.bumped(answer.outcome is Outcome.OK)
            else:
                answer = self.exchange(message)
            kind = self.user.report(name, started, answer)
            self.judge(name, kind, answer)
            if self.lost or kind not in EXPLAINED:
                return answer
            if attempt == 0:
                self.ledger.retried += 1
                gevent.sleep(answer.retry_after)
        return answer

    def exchange(self, message: dict[str, Any]) -> Answer:
        return exchange(
            self.conn,
            legacy_headers(self.session_id),
            message,
            resume_headers=lambda last: {**legacy_headers(self.session_id, stream=True), "Last-Event-ID": last},
        )

    def judge(self, name: str, kind: str, answer: Answer) -> None:
        self.trail = [*self.trail[-9:], f"{self.ledger.now():.2f} s {name}: {kind} {answer.detail}".rstrip()]
        if kind == "not found":
            self.lose(f"{name}: 404 session not found")
        elif kind == "ok":
            self.failed_before = False
        elif answer.outcome in (Outcome.INTERRUPTED, Outcome.DRAINING):
            pass  # reported by the server: the session stands, the request may be sent again
        elif self.failed_before:
            self.lose(f"{name}: {answer.detail}, right after a failed request")
        else:
            self.failed_before = True

    # --- the session's life ------------------------------------------------------------------------------------

    def open(self) -> bool:
        self.next_id += 1
        started = time.monotonic()
        answer = exchange(self.conn, legacy_headers(None), initialize(self.next_id))
        kind = self.user.report("initialize", started, answer)
        if kind != "ok" or not answer.session_id:
            if kind == "ok":
                self.ledger.error("initialize: no Mcp-Session-Id")
            return False  # no session yet: nothing to lose
        self.session_id = answer.session_id
        self.ledger.sessions += 1
        started = time.monotonic()
        done = exchange(
            self.conn, legacy_headers(self.session_id), {"jsonrpc": "2.0", "method": "notifications/initialized"}
        )
        kind = self.user.report("notifications/initialized", started, done)
        self.judge("notifications/initialized", kind, done)
        if self.lost:
            return False
        self.stream = GetStream(self)
        if not self.stream.start():
            if not self.lost:
                self.lose("GET stream: not opened")
            return False
        with self.ledger.gate.quiet():
            answer = self.call("resources/subscribe", "resources/subscribe", {"uri": COUNTER_URI})
            if answer.outcome is Outcome.OK:
                self.window = self.ledger.open_window(self.label)
                self.window.session_id = self.session_id or ""
                self.stream.window = self.window
        return not self.lost

    def act(self, action: str) -> None:
        if action == "long":
            self.long_task()
            return
        method, target, params = action_call(action)
        answer = self.call(f"{method} {target}", method, params, bump=action == "bump")
        if answer.outcome is Outcome.OK:
            check(self.ledger, action, params, answer.result)

    def long_task(self) -> None:
        steps, delay = self.plan.long_steps, self.plan.long_delay
        params = {
            "name": "long_task",
            "arguments": {"steps": steps, "delay_seconds": delay},
            "_meta": {"progressToken": f"{self.label}-{self.next_id + 1}"},
        }
        answer = self.call("tools/call long_task", "tools/call", params)
        if answer.outcome is not Outcome.OK:
            return
        if answer.result.get("structuredContent", {}).get("result") != "done":
            self.ledger.error("long_task: wrong result")
        if answer.duplicates:
            self.ledger.progress_problems["events delivered twice"] += answer.duplicates
            self.ledger.error("long_task: an event delivered twice")
        # Progress comes before the answer on the same stream: each step exactly once, in order.
        if answer.progress != [float(step) for step in range(1, steps + 1)]:
            self.ledger.progress_problems["progress not 1..steps once each"] += 1
            self.ledger.error("long_task: progress missing or out of order")

    def logged_updates(self, enough: int) -> int | None:
        """The counter updates in the session's GET stream log, replayed from its start (entry 0) on any replica."""
        conn = Connection(self.plan.endpoint, timeout=AUDIT_QUIET_SECONDS)
        headers = {**legacy_headers(self.session_id, stream=True), "Last-Event-ID": "0._GET_stream"}
        count = 0
        try:
            response = conn.request("GET", headers)
            if response.status != 200:
                response.abandon()
                return None
            for event in response.events():
                if event.data and event.data.get("method") == "notifications/resources/updated":
                    count += 1
                    if count >= enough:
                        break
        except WireError:
            pass  # quiet for AUDIT_QUIET_SECONDS: the replay is over
        finally:
            conn.close()
        return count

    def close(self) -> None:
        if self.window is not None:
            with self.ledger.gate.quiet():
                answer = self.call("resources/unsubscribe", "resources/unsubscribe", {"uri": COUNTER_URI})
                if answer.outcome is Outcome.OK:
                    self.ledger.close_window(self.window)
            if self.lost:
                return
            if self.window.answered_at_close is None:
                self.window.excluded = "unsubscribe failed"
            else:
                assert self.stream is not None
                self.stream.wait_for(self.window.owed, self.plan.drain_seconds)
                self.stream.stop()
                self.window.received = self.stream.received
                self.window.duplicates = self.stream.duplicates
                self.window.cuts, self.window.cuts_blind = self.stream.cuts, self.stream.cuts_blind
                if self.window.received < self.window.owed:
                    # Short: were they never written, or only not delivered yet? The session's log says.
                    self.window.logged = self.logged_updates(self.window.owed)
        if self.stream is not None:
            self.stream.stop()
        started = time.monotonic()
        try:
            response = self.conn.request("DELETE", legacy_headers(self.session_id))
            response.read()
            status = response.status
            answer = Answer(Outcome.OK if status in (200, 202, 204) else Outcome.ERROR, f"HTTP {status}")
            if status == 404:
                answer = Answer(Outcome.NOT_FOUND, "HTTP 404 session not found")
        except WireError as error:
            answer = Answer(Outcome.CUT, f"no answer: {error}")
        kind = self.user.report("DELETE session", started, answer)
        self.judge("DELETE session", kind, answer)


class GetStream:
    """The session's GET stream: counts the counter updates it delivers, resumes with Last-Event-ID when cut."""

    def __init__(self, session: LegacySession) -> None:
        self.session = session
        self.ledger = session.ledger
        self.window: Window | None = None
        self.received = 0
        self.duplicates = 0
        self.cuts = 0
        self.cuts_blind = 0
        self.seen: set[str] = set()
        self.last_id: str | None = None
        self.retry_ms = 1000
        self.opened = Event()
        self.delivered = Event()
        self.stopping = False
        self.conn: Connection | None = None
        self.greenlet: gevent.Greenlet[Any, Any] | None = None

    def start(self) -> bool:
        """Open the stream; True once the server answered 200 (from then on it records what the session is owed)."""
        self.greenlet = gevent.spawn(self._run)
        self.opened.wait(30)
        return self.opened.is_set() and not self.session.lost

    def wait_for(self, owed: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.received < owed and (left := deadline - time.monotonic()) > 0:
            self.delivered.clear()
            self.delivered.wait(left)

    def stop(self) -> None:
        self.stopping = True
        if self.greenlet is not None:
            self.greenlet.kill(block=False)
        if self.conn is not None:
            self.conn.close()

    def _run(self) -> None:
        given_up_at: float | None = None
        session = self.session
        while not self.stopping:
            headers = legacy_headers(session.session_id, stream=True)
            if self.last_id is not None:
                headers["Last-Event-ID"] = self.last_id
            self.conn = Connection(session.user.endpoint, timeout=GET_STREAM_TIMEOUT)
            started = time.monotonic()
            try:
                response = self.conn.request("GET", headers)
                if response.status != 200:
                    raw = response.read()
                    failure = (
                        Answer(Outcome.NOT_FOUND, "HTTP 404 session not found")
                        if response.status == 404
                        else Answer(Outcome.CUT if response.status in (502, 503, 504) else Outcome.ERROR)
                    )
                    failure.detail = failure.detail or f"HTTP {response.status}: {raw[:80]!r}"
                    kind = session.user.report("GET stream", started, failure)
                    if kind == "not found":
                        session.lose("GET stream: 404 session not found")
                        self.opened.set()
                        return
                    raise WireError(failure.detail)
                session.user.report("GET stream", started, Answer(Outcome.OK))
                given_up_at = None
                self.opened.set()
                for event in response.events():
                    self._take(event.id, event.data, event.retry)
                if self.stopping:
                    return
                # The server ended it (a draining replica, PRYNAI_SSE_MAX_STREAM_SECONDS): reconnect from here.
            except WireError as error:
                if self.stopping:
                    return
                self.ledger.stream_cuts += 1
                self.cuts += 1
                self.cuts_blind += self.last_id is None
                if not self.ledger.in_fault(self.ledger.now()):
                    self.ledger.error(f"GET stream cut outside the fault: {error}")
                given_up_at = given_up_at or time.monotonic() + GET_STREAM_GIVE_UP
                if time.monotonic() > given_up_at:
                    session.lose("GET stream: could not be opened again")
                    self.opened.set()
                    return
            finally:
                self.conn.close()
            gevent.sleep(self.retry_ms / 1000)

    def _take(self, event_id: str | None, data: dict[str, Any] | None, retry: int | None) -> None:
        if retry is not None:
            self.retry_ms = retry
        if event_id is not None:
            self.last_id = event_id
        if data is None:
            return
        if event_id is not None:
            if event_id in self.seen:
                self.duplicates += 1
                return
            self.seen.add(event_id)
        if data.get("method") == "notifications/resources/updated" and data.get("params", {}).get("uri") == COUNTER_URI:
            self.received += 1
            self.delivered.set()
