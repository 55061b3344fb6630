"""The load test's books: every request, every session, and every counter update a subscribed session was owed.

Everything runs in one process (Locust's users are greenlets), so one clock and one set of counters see it all.

Notifications are counted exactly. `bump_counter` adds to the counter, appends `notifications/resources/updated` to
the GET stream of every session subscribed at that moment, and only then answers; the notification names the
resource, not the value. So a session is owed one notification for each bump that ran entirely inside its
subscription, and for no other. The `Gate` makes "entirely inside" decidable: a session subscribes (and later
unsubscribes) while no bump is in flight, and bumps wait meanwhile (a few milliseconds, not counted in their latency).
Each subscription is then a `Window` between two readings of the count of answered bumps, and what it was owed is
their difference. A bump that got no answer (cut by the fault) may or may not have run: the windows it fell in are
uncertain by one, unless the counter's own value shows that no unanswered bump ran at all.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from gevent.event import Event  # type: ignore[import-untyped]
from gevent.lock import Semaphore  # type: ignore[import-untyped]
from protocol import Answer, Outcome

# Requests that are not "quick": a tool that takes its time on purpose, and the GET streams that stay open.
SLOW = {"tools/call long_task", "GET stream"}
FAULT_GRACE = 2.0  # seconds after the killed replica is back during which a cut is still the fault's


class Gate:
    """Bumps pass together; subscribing or unsubscribing waits for the bumps in flight and holds new ones back."""

    def __init__(self) -> None:
        self._in_flight = 0
        self._idle = Event()
        self._idle.set()
        self._open = Event()
        self._open.set()
        self._writer = Semaphore(1)
        self.held_back = 0.0  # seconds bumps spent waiting at the gate, all users together

    @contextmanager
    def bump(self) -> Iterator[None]:
        started = time.monotonic()
        # gevent wakes a waiter some time after `set`, and `wait` returns even if the gate closed again meanwhile
        # (it answers False then): look again each time.
        while not self._open.is_set():
            self._open.wait()
        self.held_back += time.monotonic() - started
        self._in_flight += 1  # no yield since the check: greenlets switch only on I/O
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """No bump runs while the body runs."""
        with self._writer:
            self._open.clear()
            try:
                self._idle.wait()
                yield
            finally:
                self._open.set()


@dataclass
class Window:
    """One session's subscription to the counter, between two readings of the answered and unanswered bumps."""

    session: str
    answered_at_open: int
    unanswered_at_open: int
    answered_at_close: int | None = None
    unanswered_at_close: int | None = None
    received: int = 0  # distinct notifications its GET stream delivered
    duplicates: int = 0  # notifications delivered twice (the same event id)
    cuts: int = 0  # times its GET stream was cut
    cuts_blind: int = 0  # ... before the stream had given any event id, so it could only start over "from now"
    logged: int | None = None  # when the stream came up short: the updates the session's log held, replayed
    session_id: str = ""  # the server's Mcp-Session-Id, to look the session up in the replicas' logs
    excluded: str | None = None  # why it is not counted (its session was lost, or never closed)

    @property
    def owed(self) -> int:
        assert self.answered_at_close is not None
        return self.answered_at_close - self.answered_at_open

    @property
    def unanswered(self) -> int:
        assert self.unanswered_at_close is not None
        return self.unanswered_at_close - self.unanswered_at_open


@dataclass
class Sample:
    at: float  # seconds since the start of the run, when the answer (or the failure) came
    name: str
    ms: float
    kind: str  # ok, interrupted (by the fault), draining, not found, error


@dataclass
class Ledger:
    started: float = field(default_factory=time.monotonic)
    gate: Gate = field(default_factory=Gate)
    samples: list[Sample] = field(default_factory=list)
    fault_at: float | None = None  # seconds into the run: the SIGKILL
    restarted_at: float | None = None  # the killed replica answers again
    sessions: int = 0
    lost: list[dict[str, Any]] = field(default_factory=list)  # session, session_id, why, at, its last attempts
    interrupted_reported: int = 0  # -32054 on a resumed stream
    interrupted_cut: int = 0  # no answer: the connection went down with the replica
    draining: int = 0  # -32055 (a replica shutting down refused new work)
    retried: int = 0
    stream_cuts: int = 0  # GET streams cut (and resumed)
    resumed_requests: int = 0  # request streams resumed with Last-Event-ID
    errors: Counter[str] = field(default_factory=Counter)
    answered_bumps: int = 0
    unanswered_bumps: int = 0
    windows: list[Window] = field(default_factory=list)
    unfinished_users: int = 0
    progress_problems: Counter[str] = field(default_factory=Counter)

    def now(self) -> float:
        return time.monotonic() - self.started

    def in_fault(self, at: float) -> bool:
        if self.fault_at is None or at < self.fault_at:
            return False
        return self.restarted_at is None or at <= self.restarted_at + FAULT_GRACE

    def record(self, name: str, started: float, answer: Answer) -> str:
        """Book one attempt of a request; return its kind."""
        at = self.now()
        ms = (time.monotonic() - started) * 1000
        outcome = answer.outcome
        if outcome is Outcome.OK:
            kind = "ok"
        elif outcome is Outcome.INTERRUPTED:
            kind = "interrupted"
            self.interrupted_reported += 1
        elif outcome is Outcome.CUT and self.in_fault(at):
            kind = "interrupted"
            self.interrupted_cut += 1
        elif outcome is Outcome.DRAINING:
            kind = "draining"
            self.draining += 1
        elif outcome is Outcome.NOT_FOUND:
            kind = "not found"
        else:
            kind = "error"
            self.errors[f"{name}: {answer.detail}"] += 1
        self.resumed_requests += answer.resumed
        self.samples.append(Sample(at, name, ms, kind))
        return kind

    def error(self, what: str) -> None:
        """An error that is not one request's answer (a wrong result, a stream that failed outside the fault)."""
        self.errors[what] += 1
        self.samples.append(Sample(self.now(), "check", 0.0, "error"))

    def lose(self, session: str, why: str, session_id: str | None = None, trail: list[str] | None = None) -> None:
        self.lost.append(
            {"session": session, "session_id": session_id, "why": why, "at": round(self.now(), 2), "trail": trail}
        )

    def bumped(self, answered: bool) -> None:
        """Inside `gate.bump()`: one bump ended, answered or not."""
        if answered:
            self.answered_bumps += 1
        else:
            self.unanswered_bumps += 1

    def open_window(self, session: str) -> Window:
        """Inside `gate.quiet()`, once the subscription is confirmed."""
        window = Window(session, self.answered_bumps, self.unanswered_bumps)
        self.windows.append(window)
        return window

    def close_window(self, window: Window) -> None:
        """Inside `gate.quiet()`, once the unsubscription is confirmed."""
        window.answered_at_close = self.answered_bumps
        window.unanswered_at_close = self.unanswered_bumps

    # --- the totals ------------------------------------------------------------------------------------------

    def quick_latencies(self) -> list[float]:
        return [s.ms for s in self.samples if s.kind == "ok" and s.name not in SLOW]

    def notifications(self, counter_moved: int | None) -> dict[str, Any]:
        """Counter updates made while each counted session was subscribed, how many its stream delivered, and how
        many it never received. `counter_moved` is how much the counter grew during the run (None: unknown).

        A bump the fault cut (no answer) may have run or not; the counter says how many did. None or all of them:
        every window knows exactly how many updates it spanned. Some: each window is exact up to the cut bumps it
        spanned, and the loss is given as a range (`lost` .. `lost_at_most`)."""
        counted = [w for w in self.windows if w.excluded is None and w.answered_at_close is not None]
        ran = None if counter_moved is None else counter_moved - self.answered_bumps  # cut bumps that did run
        every_cut_ran = ran is not None and ran == self.unanswered_bumps
        exact = ran is not None and (ran == 0 or every_cut_ran)
        updates = received = lost = lost_at_most = unexpected = duplicates = late = 0
        lost_where: Counter[str] = Counter()  # what the streams that lost something went through
        lost_spanning_cut = 0  # lost in windows that spanned a bump the fault cut after it had changed the counter
        short: list[dict[str, Any]] = []  # the windows that lost something, to look into
        for window in counted:
            spanned = window.owed + (window.unanswered if every_cut_ran else 0)
            slack = 0 if exact else window.unanswered
            updates += spanned
            received += window.received
            duplicates += window.duplicates
            # In the log but not delivered within the drain time: late, not lost.
            got = window.received if window.logged is None else max(window.received, window.logged)
            late += max(0, min(got, spanned) - window.received)
            missing = max(0, spanned - got)
            lost += missing
            lost_at_most += max(0, spanned + slack - got)
            unexpected += max(0, window.received - spanned - slack)
            if missing:
                where = "stream never cut" if not window.cuts else "stream cut after an event id"
                lost_where["stream cut before any event id" if window.cuts_blind else where] += missing
                if window.unanswered and ran:
                    lost_spanning_cut += missing
                short.append(
                    {
                        "session": window.session,
                        "session_id": window.session_id,
                        "updates": spanned,
                        "received": window.received,
                        "in_log": window.logged,
                        "stream_cuts": window.cuts,
                    }
                )
        excluded = Counter(w.excluded for w in self.windows if w.excluded is not None)
        return {
            "subscriptions_counted": len(counted),
            "subscriptions_excluded": dict(excluded),
            "updates": updates,
            "received": received,
            "lost": lost,
            "lost_at_most": lost_at_most,
            "exact": exact,
            "late": late,
            "lost_by_stream_history": dict(lost_where),
            "short_subscriptions": short[:20],
            "lost_in_windows_spanning_a_cut_bump_that_ran": lost_spanning_cut,
            "duplicated": duplicates,
            "unexpected": unexpected,
            "answered_bumps": self.answered_bumps,
            "cut_bumps": self.unanswered_bumps,
            "cut_bumps_that_ran": ran,
            "counter_moved": counter_moved,
            "bumps_held_back_seconds": round(self.gate.held_back, 3),
        }


def percentile(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]
