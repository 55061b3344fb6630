"""How a replica leaves on SIGTERM (or SIGINT): it drains, then lets the server stop. No session is lost.

From the first stop signal: `/healthz` answers 503 "draining", so a balancer stops routing here; /mcp takes no new
JSON-RPC request (503 with `Retry-After`, `http.draining`); every open GET stream ends with its position and a
`retry:` hint, so the client reconnects, through the balancer to another replica, with `Last-Event-ID` and misses
nothing (the event log is shared); requests already running go on. Once none runs, or `grace_seconds` after the
signal, the signal goes on to the server (uvicorn), which closes its port, cuts whatever still runs after its own
short timeout and shuts the app down; the lease is retired then, so other replicas answer those requests
"interrupted" (`sessions.ownership`).

Entry: one `Drain` per app; `watch_stop_signals` runs in the app's lifespan; `Drain.track` is SDK server middleware.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import anyio
import anyio.abc
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# A listen stream (2026-07-28) is open-ended, like a GET stream: the drain does not wait for it. It ends with the
# process, and the SDK client reports the subscription lost, which is its cue to listen again (elsewhere).
OPEN_ENDED = frozenset({"subscriptions/listen"})

SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class Drain:
    """This replica's drain: whether it has begun, the streams to end when it does, the requests it waits for."""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self.draining = False
        self._running = 0
        self._stream_waits: set[anyio.CancelScope] = set()
        self._wake: anyio.Event | None = None

    def begin(self) -> None:
        """Stop taking new work and end every open stream. Idempotent; call it on the event loop."""
        if self.draining:
            return
        self.draining = True
        logger.info(
            "draining: no new requests; open streams told to reconnect elsewhere",
            extra={"event": "drain", "running": self._running, "streams": len(self._stream_waits)},
        )
        for scope in list(self._stream_waits):
            scope.cancel()
        self._notify()

    @contextlib.contextmanager
    def stream_wait(self) -> Iterator[anyio.CancelScope]:
        """Scope for one wait of an open stream (never around a `yield`): cancelled when the drain begins, at once if
        it has. A wait cut short leaves its result unassigned, which tells the stream to hand over and end."""
        with anyio.CancelScope() as scope:
            if self.draining:
                scope.cancel()
            self._stream_waits.add(scope)
            try:
                yield scope
            finally:
                self._stream_waits.discard(scope)

    async def track(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """SDK server middleware: count the requests running here, on either wire; the drain waits for them."""
        if ctx.request_id is None or ctx.method in OPEN_ENDED:
            return await call_next(ctx)
        self._running += 1
        try:
            return await call_next(ctx)
        finally:
            self._running -= 1
            if self.draining:
                self._notify()

    async def settled(self) -> None:
        """Return once the drain has begun and no request runs here any more, or `grace_seconds` after it began."""
        while not self.draining:
            self._wake = anyio.Event()
            await self._wake.wait()
        with anyio.move_on_after(self.grace_seconds) as grace:
            while self._running:
                self._wake = anyio.Event()
                await self._wake.wait()
        if grace.cancelled_caught:
            logger.warning(
                "grace period over: %d request(s) still running will be cut and answered 'interrupted'",
                self._running,
                extra={"event": "drain_grace_over", "running": self._running},
            )

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.set()


async def watch_stop_signals(
    drain: Drain, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    """Lifespan task: the first SIGTERM or SIGINT begins the drain and is held back from the server; once the drain
    has settled it goes on to the server's own handler, which then shuts down. A later signal goes on at once.

    Why here and not in a `uvicorn.Server` subclass: uvicorn offers no hook that runs when the signal arrives (the
    app hears of shutdown only at lifespan shutdown, after open connections ended or were cut), and a hook in the
    app works the same under `prynai-mcp serve` and `uvicorn prynai_mcp.app:create_app --factory`. uvicorn installs
    its handlers with `signal.signal` before the lifespan starts, so we wrap them while the app runs and restore
    them after. Holding the signal back is what keeps the port open during the drain: uvicorn closes it as soon as
    it sees the signal, and a closed port can neither say "draining" on /healthz nor refuse a late request with
    `Retry-After`. It also keeps `sse-starlette` (under the SDK's SSE responses) from ending every response stream,
    running requests' included, within half a second of uvicorn seeing the signal. Off the main thread (no signals
    there) nothing is wrapped and the server's shutdown is unchanged.
    """
    loop = asyncio.get_running_loop()
    held: list[int] = []
    previous: dict[int, SignalHandler] = {}

    def pass_on(sig: int) -> None:
        handler = previous[sig]
        if callable(handler):
            handler(sig, None)
        else:  # no Python handler before us: let the signal do what it would have done
            signal.signal(sig, _settable(handler))
            signal.raise_signal(sig)

    def on_signal(sig: int, frame: FrameType | None) -> None:
        # Runs between two bytecodes of the main thread, i.e. inside the event loop: only schedule work on it.
        if held:
            pass_on(sig)
        else:
            held.append(sig)
            loop.call_soon_threadsafe(drain.begin)

    try:
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, on_signal)
    except ValueError:  # not the main thread
        logger.debug("stop signals not watched: the app does not run in the main thread")
    task_status.started()
    try:
        await drain.settled()
        if held:
            logger.info("drained; stopping", extra={"event": "drained"})
            pass_on(held[0])
        await anyio.sleep_forever()
    finally:
        for watched, handler in previous.items():
            if signal.getsignal(watched) is on_signal:
                signal.signal(watched, _settable(handler))


def _settable(handler: SignalHandler) -> SignalHandler:
    # `getsignal` answers None for a handler not installed from Python, which `signal.signal` does not accept.
    return signal.SIG_DFL if handler is None else handler
