"""Open GET streams on one replica: how many Redis connections they take, and how fast a new call is meanwhile.

    uv run python bench/streams.py [--streams 10000] [--per-session 4] [--pool 64] [--calls 300] [--json FILE]

One `prynai-mcp serve` with one Redis (both on 127.0.0.1). First, with no stream open, what the replica and Redis do
over 30 s of quiet (Redis commands a second, the replica's CPU), a new session's `tools/call add` latency and
Redis's client count; then `--streams` standalone GET streams are opened (`--per-session` per
session, each its own HTTP connection) and left waiting; then, while they wait, the same figures again, the
replica's RSS, and whether a change reaches every stream (every session is subscribed to `prynai://counter`, one
`bump_counter` call, the time until the last stream heard it). `--pool` is the replica's
PRYNAI_REDIS_MAX_CONNECTIONS: the Redis client count never passes it, however many streams wait. `--keepalive` is
PRYNAI_SSE_KEEPALIVE_SECONDS: once a period every stream sends a keep-alive comment and the replica's keep-alive round
renews every session holding a stream (and the streams' slots), a few hundred sessions to a Redis round trip.
Every loop ends by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from loadgen import Connection, mcp_headers, open_session
from run import ours, percentile, redis_info, rss_kib, serving

from tests.support.redis import running_redis

SUBSCRIBE = b'{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"prynai://counter"}}'
BUMP = b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"bump_counter","arguments":{"by":1}}}'
OPEN_PARALLEL = 16
# Seconds of quiet over which Redis's command rate and the replica's CPU are measured: a few keep-alive periods.
QUIET_SECONDS = 30.0


def add_body(request_id: int) -> bytes:
    return b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"add","arguments":{"a":%d,"b":1}}}' % (
        request_id,
        request_id,
    )


def raise_file_limit() -> int:
    """As many descriptors as the hard limit allows, for this process and the servers it starts."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def redis_clients(port: int) -> int:
    return await redis_info(port, "clients", "connected_clients") - 1  # less the probe's own


async def snapshot(port: int, redis_port: int, pid: int, calls: int) -> dict[str, float]:
    """What the replica and Redis spend while nothing happens (over `QUIET_SECONDS`: Redis commands a second, the
    replica's CPU share), then a new session's call latency, Redis's client count and the replica's RSS."""
    commands, cpu = await redis_info(redis_port, "stats", "total_commands_processed"), cpu_seconds(pid)
    await asyncio.sleep(QUIET_SECONDS)
    commands = await redis_info(redis_port, "stats", "total_commands_processed") - commands - 1  # less our INFO
    quiet_cpu = (cpu_seconds(pid) - cpu) / QUIET_SECONDS
    latencies = await call_latencies(port, calls)
    return {
        "redis_commands_per_second": commands / QUIET_SECONDS,
        "replica_cpu_percent": quiet_cpu * 100,
        "redis_clients": await redis_clients(redis_port),
        "rss_kib": rss_kib(pid),
        "call_p50_ms": percentile(latencies, 50) * 1000,
        "call_p95_ms": percentile(latencies, 95) * 1000,
    }


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def call_latencies(port: int, calls: int) -> list[float]:
    """A new session, then `calls` sequential `add` calls on it (JSON answers); seconds each."""
    conn = Connection(port)
    await conn.open()
    try:
        session_id = await open_session([conn])
        latencies = []
        for request_id in range(10, 10 + calls):
            started = time.perf_counter()
            conn.send(b"POST", b"/mcp", mcp_headers(session_id), add_body(request_id))
            response = await conn.read_response()
            if response.status != 200 or b'"result"' not in response.body:
                raise RuntimeError(f"add: {response.status} {response.body[:200]!r}")
            latencies.append(time.perf_counter() - started)
        return latencies
    finally:
        conn.close()


async def open_stream(port: int, session_id: str) -> Connection:
    conn = Connection(port)
    await conn.open()
    headers = [*mcp_headers(session_id), (b"Accept", b"text/event-stream")]
    conn.send(b"GET", b"/mcp", headers)
    status, _ = await conn.read_head()
    if status != 200:
        assert conn.reader is not None
        raise RuntimeError(f"GET stream: {status} {await conn.reader.read(300)!r}")
    return conn


async def heard_change(conn: Connection) -> float:
    """When this stream's `notifications/resources/updated` arrived (perf_counter)."""
    assert conn.reader is not None
    while True:
        line = await conn.reader.readline()
        if not line:
            raise RuntimeError("a stream ended before the change reached it")
        if b"notifications/resources/updated" in line:
            return time.perf_counter()


async def measure(args: argparse.Namespace, port: int, redis_port: int, pid: int) -> dict[str, object]:
    figures: dict[str, object] = {"streams": args.streams, "per_session": args.per_session, "pool": args.pool}
    figures["idle"] = await snapshot(port, redis_port, pid, args.calls)
    sessions = -(-args.streams // args.per_session)
    gate = asyncio.Semaphore(OPEN_PARALLEL)

    async def prepared_session() -> str:
        async with gate:
            conn = Connection(port)
            await conn.open()
            try:
                session_id = await open_session([conn])
                conn.send(b"POST", b"/mcp", mcp_headers(session_id), SUBSCRIBE)
                if (await conn.read_response()).status != 200:
                    raise RuntimeError("resources/subscribe failed")
                return session_id
            finally:
                conn.close()

    started = time.perf_counter()
    session_ids = await asyncio.gather(*(prepared_session() for _ in range(sessions)))

    async def gated_stream(session_id: str) -> Connection:
        async with gate:
            return await open_stream(port, session_id)

    owners = [session_ids[index // args.per_session] for index in range(args.streams)]
    streams = await asyncio.gather(*(gated_stream(session_id) for session_id in owners))
    figures["open_seconds"] = time.perf_counter() - started
    await asyncio.sleep(args.settle)  # every stream past its first read, waiting
    figures["waiting"] = await snapshot(port, redis_port, pid, args.calls)
    listeners = [asyncio.create_task(heard_change(conn)) for conn in streams]
    control = Connection(port)  # opened now: a connection left silent is closed after the HTTP keep-alive
    await control.open()
    bump_session = await open_session([control])
    bumped = time.perf_counter()
    control.send(b"POST", b"/mcp", mcp_headers(bump_session), BUMP)
    if (await control.read_response()).status != 200:
        raise RuntimeError("bump_counter failed")
    heard = await asyncio.wait_for(asyncio.gather(*listeners), timeout=120)
    figures["change_reached_all_seconds"] = max(heard) - bumped
    figures["change_p50_seconds"] = percentile([at - bumped for at in heard], 50)
    for conn in [*streams, control]:
        conn.close()
    return figures


def report(figures: dict[str, object]) -> None:
    idle, waiting = figures["idle"], figures["waiting"]
    assert isinstance(idle, dict) and isinstance(waiting, dict)
    print(
        f"\n{figures['streams']} GET streams ({figures['per_session']} per session) on one replica with Redis, "
        f"PRYNAI_REDIS_MAX_CONNECTIONS={figures['pool']}"
    )
    print(f"opened in {figures['open_seconds']:.1f} s\n")
    print("| | no stream open | streams waiting |")
    print("|---|---:|---:|")
    print(
        f"| Redis commands a second, quiet | {idle['redis_commands_per_second']:.0f} | "
        f"{waiting['redis_commands_per_second']:.0f} |"
    )
    cpu = f"| {idle['replica_cpu_percent']:.0f} | {waiting['replica_cpu_percent']:.0f} |"
    print(f"| replica CPU while quiet, % of a core {cpu}")
    print(f"| Redis connections (all clients) | {idle['redis_clients']} | {waiting['redis_clients']} |")
    print(f"| replica RSS, MiB | {idle['rss_kib'] / 1024:.0f} | {waiting['rss_kib'] / 1024:.0f} |")
    print(f"| new call p50, ms | {idle['call_p50_ms']:.2f} | {waiting['call_p50_ms']:.2f} |")
    print(f"| new call p95, ms | {idle['call_p95_ms']:.2f} | {waiting['call_p95_ms']:.2f} |")
    print(
        f"\none change reached every stream in {figures['change_reached_all_seconds']:.2f} s "
        f"(median stream {figures['change_p50_seconds']:.2f} s)"
    )


async def measure_streams(args: argparse.Namespace) -> dict[str, object]:
    sessions = -(-args.streams // args.per_session)
    with running_redis() as redis, tempfile.TemporaryDirectory() as scratch:
        logdir = args.logs or scratch
        env = {
            "REDIS_URL": redis.url(),
            "PRYNAI_MAX_STREAMS_PER_SESSION": str(args.per_session),
            # One client opens every session here; the bound per principal is not what is measured.
            "PRYNAI_MAX_SESSIONS_PER_PRINCIPAL": str(sessions + 100),
            "PRYNAI_MAX_SESSIONS": str(sessions + 100),
            "PRYNAI_REDIS_MAX_CONNECTIONS": str(args.pool),
            "PRYNAI_SSE_KEEPALIVE_SECONDS": str(args.keepalive),
            "PRYNAI_LOG_LEVEL": "WARNING",
        }
        with serving([("replica", ours(), env)], Path(logdir)) as (replica,):
            figures = await measure(args, replica.port, redis.port, replica.process.pid)
    return figures


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--per-session", type=int, default=4)
    parser.add_argument("--pool", type=int, default=64, help="PRYNAI_REDIS_MAX_CONNECTIONS of the replica")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument(
        "--keepalive", type=float, default=60, help="PRYNAI_SSE_KEEPALIVE_SECONDS: each stream's renewal period"
    )
    parser.add_argument("--settle", type=float, default=3.0, help="seconds between opening and measuring")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--logs", help="keep the replica's log in this directory")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    limit = raise_file_limit()
    if limit < args.streams + 1000:
        print(f"the descriptor limit ({limit}) is too low for {args.streams} streams", file=sys.stderr)
        return 2
    figures = asyncio.run(measure_streams(args))
    report(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
