"""Reproduce the gap the load test found: SIGKILL the replica running bump_counter while it tells its subscribers.

    uv run python bench/load/fanout_kill.py [--sessions 150] [--delay 0.02]

Two replicas share one Redis (all on 127.0.0.1). `--sessions` sessions subscribe to `prynai://counter` on replica B
and hold their GET streams there. A bump_counter call goes to replica A, which adds to the counter and then appends
the notification to each subscriber's event log, one after the other; `--delay` seconds later A is SIGKILLed. The
counter has moved, and the subscribers A had not reached yet are never told: nothing else knows the change happened.
Prints how many of the subscribed sessions heard of it; exit status 1 when some did not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.raw import PROTOCOL, RawSession, sse_events
from tests.support.redis import running_redis
from tests.support.replicas import running_replicas

COUNTER = "prynai://counter"


async def counter(http: httpx2.AsyncClient, session: RawSession, url: str) -> int:
    read = {"jsonrpc": "2.0", "id": 9, "method": "resources/read", "params": {"uri": COUNTER}}
    answer = (await http.post(url, json=read, headers=session.headers())).json()
    return int(answer["result"]["contents"][0]["text"])


async def main(sessions: int, delay: float) -> int:
    with running_redis() as redis, running_replicas(2, redis.url()) as replicas:
        a, b = replicas[0], replicas[1]
        limits = httpx2.Limits(max_connections=sessions * 2 + 20, max_keepalive_connections=sessions * 2 + 20)
        async with httpx2.AsyncClient(trust_env=False, timeout=30, limits=limits) as http:
            subscribers = [RawSession(http, [b.mcp_url], label=f"s{i}") for i in range(sessions)]
            for session in subscribers:
                await session.open()
            told = [0] * sessions
            streaming = 0
            all_streaming = asyncio.Event()

            async def listen(index: int, session: RawSession) -> None:
                nonlocal streaming
                assert session.session_id is not None
                headers = {"Accept": "text/event-stream", "Mcp-Protocol-Version": PROTOCOL}
                headers["Mcp-Session-Id"] = session.session_id
                with contextlib.suppress(httpx2.HTTPError):
                    async with http.stream("GET", b.mcp_url, headers=headers) as stream:
                        streaming += 1
                        if streaming == sessions:
                            all_streaming.set()
                        async for event in sse_events(stream):
                            if event.data and event.data.get("method") == "notifications/resources/updated":
                                told[index] += 1

            listeners = [asyncio.create_task(listen(i, s)) for i, s in enumerate(subscribers)]
            await asyncio.wait_for(all_streaming.wait(), 30)
            for session in subscribers:
                subscribe = {"jsonrpc": "2.0", "id": 1, "method": "resources/subscribe", "params": {"uri": COUNTER}}
                answer = await http.post(b.mcp_url, json=subscribe, headers=session.headers())
                answer.raise_for_status()
            before = await counter(http, subscribers[0], b.mcp_url)

            bumper = RawSession(http, [a.mcp_url])
            await bumper.open()
            bump = bumper.call(2, "bump_counter", {})
            call = asyncio.create_task(http.post(a.mcp_url, json=bump, headers=bumper.headers()))
            await asyncio.sleep(delay)
            a.stop(signal.SIGKILL)
            try:
                outcome = f"HTTP {(await call).status_code}"
            except httpx2.HTTPError as error:
                outcome = f"no answer ({type(error).__name__})"
            await asyncio.sleep(3)  # every notification that was appended has been delivered by now
            after = await counter(http, subscribers[0], b.mcp_url)
            for listener in listeners:
                listener.cancel()
    heard = sum(1 for count in told if count)
    print(
        f"bump_counter on the killed replica: {outcome}; counter {before} -> {after}; {heard} of {sessions} "
        "subscribed sessions were told"
    )
    return 1 if after != before and heard < sessions else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=150, help="subscribed sessions (default 150)")
    parser.add_argument("--delay", type=float, default=0.02, help="seconds from the call to the SIGKILL")
    options = parser.parse_args()
    sys.exit(asyncio.run(main(options.sessions, options.delay)))
