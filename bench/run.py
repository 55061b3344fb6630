"""Throughput, latency, resume latency and idle-session memory of PrynAI MCP against the stock SDK and a ceiling.

    uv run python bench/run.py [--seconds N] [--concurrency N] [--warmup N] [--resume-trials N] [--idle-sessions N]
                               [--only SECTION,...] [--auth-rounds N] [--telemetry-rounds N] [--json FILE]

One run measures, one server set-up at a time (nothing else of ours runs meanwhile), with the same load generator
(`bench/loadgen.py`: raw asyncio HTTP/1.1 keep-alive, one legacy session per connection for the MCP servers). The
sections, in order (`--only` picks some):
1. stock     : the SDK's MCPServer with the same `add` tool, one process, in-memory, legacy stateful SSE;
2. memory    : `prynai-mcp serve`, in-memory backend, legacy wire (with resume latency and idle-session memory);
3. auth      : in alternating rounds, the same with and without AUTH_REQUIRED (Entra ID through the local stand-in,
               one bearer token reused by every worker);
4. redis     : `prynai-mcp serve` x 2 with one Redis, the generator alternating replicas on every request;
5. ceiling   : a bare Starlette JSON endpoint that parses the JSON-RPC body, adds and answers a JSON-RPC result;
6. modern    : the 2026-07-28 wire (no session; `_meta` envelope and `Mcp-Method`/`Mcp-Name` on every call): the
               stock SDK server and ours, one process each, the same `add`, and the ceiling fed the same body;
7. telemetry : in alternating rounds, ours with and without OpenTelemetry (OTLP/HTTP to a local sink process, the
               SDK's default batching and sampling: every call traced), on both wires.
Everything listens on 127.0.0.1 only and every loop ends by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))  # tests.support: the same Redis the tests use

from entra_standin import running_standin  # noqa: E402
from loadgen import Connection, LoadResult, mcp_headers, open_session, run_load  # noqa: E402

from tests.support.redis import RedisServer, redis_server_binary  # noqa: E402
from tests.support.server import free_port  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STRIPPED_ENV_PREFIXES = ("PRYNAI_", "ENTRA_", "REDIS_", "AUTH_", "SSL_", "OTEL_", "APPLICATIONINSIGHTS_")
SECTIONS = ("stock", "memory", "auth", "redis", "ceiling", "modern", "telemetry")


@dataclass
class Proc:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path


def cpu_seconds(pids: Sequence[int]) -> float:
    """utime + stime of each pid, from /proc/PID/stat."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def machine_busy() -> float:
    """CPU seconds all cores spent not idle since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


async def wait_quiet(limit: float, threshold: float = 0.3) -> float:
    """Sample the machine's busy cores over 1 s until under `threshold` (others' work) or `limit` s have passed."""
    deadline = time.monotonic() + limit
    while True:
        start = machine_busy()
        await asyncio.sleep(1.0)
        busy = machine_busy() - start
        if busy < threshold or time.monotonic() >= deadline:
            return busy
        await asyncio.sleep(2.0)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(STRIPPED_ENV_PREFIXES)}
    env.pop("CORS_ALLOW_ORIGINS", None)
    env.update(extra or {})
    return env


def wait_listening(proc: Proc, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.process.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.process.returncode}:\n{proc.log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", proc.port), timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not listen in {timeout}s:\n{proc.log.read_text()[-3000:]}")


@contextlib.contextmanager
def serving(specs: Sequence[tuple[str, list[str], Mapping[str, str] | None]], logdir: Path) -> Iterator[list[Proc]]:
    """Start each (name, argv without --port, extra env) on its own free port; stop them (SIGTERM) afterwards."""
    procs: list[Proc] = []
    try:
        for name, argv, env in specs:
            port = free_port()
            log = logdir / f"{name}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [*argv, "--port", str(port)], env=clean_env(env), stdout=out, stderr=subprocess.STDOUT
                )
            procs.append(Proc(name, port, process, log))
        for proc in procs:
            wait_listening(proc)
        yield procs
    finally:
        for proc in procs:
            if proc.process.poll() is None:
                proc.process.terminate()
        for proc in procs:
            try:
                proc.process.wait(15)
            except subprocess.TimeoutExpired:
                proc.process.kill()
                proc.process.wait()


def ours() -> list[str]:
    return [str(Path(sys.prefix, "bin", "prynai-mcp")), "serve", "--host", "127.0.0.1"]


def reference(kind: str) -> list[str]:
    return [sys.executable, str(BENCH / "servers.py"), kind]


async def http_get_json(port: int, path: str) -> object:
    conn = Connection(port)
    await conn.open()
    try:
        conn.send(b"GET", path.encode(), [])
        response = await conn.read_response()
        return json.loads(response.body)
    finally:
        conn.close()


async def redis_info(port: int, section: str, field: str) -> int:
    """One integer field of Redis's `INFO section`, over a connection of its own (closed again)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"INFO " + section.encode() + b"\r\n")
        size = int((await reader.readline())[1:])
        text = (await reader.readexactly(size + 2)).decode()
        return next(int(line.split(":")[1]) for line in text.splitlines() if line.startswith(f"{field}:"))
    finally:
        writer.close()


async def redis_used_memory(port: int) -> int:
    return await redis_info(port, "memory", "used_memory")


# --- resume latency ---------------------------------------------------------------------------------------------


async def read_sse_event(conn: Connection, pending: bytearray) -> tuple[str | None, bytes] | None:
    """The next SSE event with data on a chunked SSE response, as (id, data); None when the response ends.

    Events without data (priming events, retry hints) are skipped; CRLF and LF line ends are both accepted."""
    assert conn.reader is not None
    while True:
        end = pending.find(b"\n\n")
        if end >= 0:
            raw = bytes(pending[:end])
            del pending[: end + 2]
            event_id, data = None, b""
            for line in raw.split(b"\n"):
                if line.startswith(b"id:"):
                    event_id = line[3:].strip().decode()
                elif line.startswith(b"data:"):
                    data += line[5:].strip()
            if data:
                return event_id, data
            continue
        size = int((await conn.reader.readline()).split(b";", 1)[0], 16)
        if size == 0:
            await conn.reader.readline()
            return None
        pending += (await conn.reader.readexactly(size + 2))[:-2].replace(b"\r\n", b"\n")


async def resume_trial(port_a: int, port_b: int, trial: int) -> float:
    """Session and `long_task` on A; drop the stream after its first event; resume with Last-Event-ID on B.

    Returns seconds from sending the GET to the first replayed event; the whole replay is checked."""
    a = Connection(port_a)
    await a.open()
    session_id = await open_session([a])
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": "long_task",
            "arguments": {"steps": 3, "delay_seconds": 0.05},
            "_meta": {"progressToken": f"resume-{trial}"},
        },
    }
    a.send(b"POST", b"/mcp", mcp_headers(session_id), json.dumps(call).encode())
    status, _ = await a.read_head()
    if status != 200:
        raise RuntimeError(f"long_task: HTTP {status}")
    event = await read_sse_event(a, bytearray())
    if event is None or event[0] is None or json.loads(event[1]).get("params", {}).get("progress") != 1:
        raise RuntimeError(f"unexpected first event {event!r}")
    event_id = event[0]
    a.close()  # drop the stream mid-request
    await asyncio.sleep(0.3)  # the task finishes meanwhile: what follows is replay from the event log, not live
    b = Connection(port_b)
    await b.open()
    headers = [
        (b"Accept", b"text/event-stream"),
        (b"Mcp-Protocol-Version", b"2025-11-25"),
        (b"Mcp-Session-Id", session_id.encode()),
        (b"Last-Event-ID", event_id.encode()),
    ]
    started = time.perf_counter()
    b.send(b"GET", b"/mcp", headers)
    status, _ = await b.read_head()
    if status != 200:
        raise RuntimeError(f"resume GET: HTTP {status}")
    pending = bytearray()
    event = await read_sse_event(b, pending)
    elapsed = time.perf_counter() - started
    # Exactly what followed the dropped event, once and in order: step 1's log line, then steps 2 and 3, the result.
    replayed = []
    while event is not None:
        replayed.append(json.loads(event[1]))
        event = await read_sse_event(b, pending)
    b.close()
    expected = ["log 1", "progress 2", "log 2", "progress 3", "log 3", "result"]
    seen = [
        "result"
        if "result" in m
        else f"progress {m['params']['progress']}"
        if m.get("method") == "notifications/progress"
        else f"log {m['params']['data'][-3]}"
        for m in replayed
    ]
    if seen != expected:
        raise RuntimeError(f"replay after {event_id} was {seen}, expected {expected}")
    return elapsed


async def resume_latency(port_a: int, port_b: int, trials: int) -> list[float]:
    return [await resume_trial(port_a, port_b, trial) for trial in range(trials)]


# --- idle-session memory ----------------------------------------------------------------------------------------


async def open_idle_sessions(port: int, count: int, parallel: int = 16) -> None:
    async def opener(share: int) -> None:
        conn = Connection(port)
        await conn.open()
        try:
            for _ in range(share):
                await open_session([conn])
        finally:
            conn.close()

    shares = [count // parallel + (1 if i < count % parallel else 0) for i in range(parallel)]
    await asyncio.gather(*(opener(share) for share in shares if share))


async def idle_memory(pid: int, port: int, count: int, redis_port: int | None = None) -> dict[str, float]:
    await asyncio.sleep(1.0)
    before = rss_kib(pid)
    redis_before = await redis_used_memory(redis_port) if redis_port else 0
    await open_idle_sessions(port, count)
    await asyncio.sleep(1.0)
    after = rss_kib(pid)
    out = {"rss_before_kib": before, "rss_after_kib": after, "kib_per_session": (after - before) / count}
    if redis_port:
        out["redis_bytes_per_session"] = (await redis_used_memory(redis_port) - redis_before) / count
    return out


# --- report -----------------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def main(args: argparse.Namespace) -> int:
    logdir = Path(tempfile.mkdtemp(prefix="prynai-bench-"))
    command = "uv run python bench/run.py " + " ".join(sys.argv[1:])
    print(f"command      : {command.strip()}")
    print(f"machine      : {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}")
    print(f"python       : {platform.python_version()}, mcp {version('mcp')}, uvicorn {version('uvicorn')}")
    print(f"redis        : {redis_server_binary()}")
    print(f"load average : {load_avg()} (1, 5, 15 min) at start")
    print(
        f"method       : concurrency {args.concurrency}, warm-up {args.warmup:g} s, measure {args.seconds:g} s, "
        f"one generator process (raw asyncio HTTP/1.1 keep-alive); logs in {logdir}"
    )
    print()
    results: dict[str, LoadResult] = {}
    extras: dict[str, object] = {}
    load = {"concurrency": args.concurrency, "warmup": args.warmup, "seconds": args.seconds}

    async def measure(
        name: str,
        ports: list[int],
        pids: list[int],
        *,
        mcp: bool = True,
        token: str | None = None,
        wire: str = "legacy",
    ) -> LoadResult:
        idle_busy = await wait_quiet(args.quiet_wait)
        print(
            f"[{name}] load average {load_avg()}, machine busy {idle_busy:.2f} cores before load; measuring ...",
            flush=True,
        )

        def probe() -> dict[str, float]:
            return {"server": cpu_seconds(pids), "machine": machine_busy()}

        extra = [(b"Authorization", b"Bearer " + token.encode())] if token else []
        result = await run_load(name, ports, mcp=mcp, wire=wire, probe=probe, extra_headers=extra, **load)
        results[name] = result
        cores = {key: value / args.seconds for key, value in result.cpu.items()}
        generator = result.generator_cpu / args.seconds
        others = max(0.0, cores["machine"] - cores["server"] - generator)
        print(
            f"[{name}] {result.throughput:8.0f} req/s  p50 {ms(result.percentile(50))} ms  "
            f"p95 {ms(result.percentile(95))} ms  p99 {ms(result.percentile(99))} ms  errors {result.errors}\n"
            f"[{name}] CPU in cores: server(s) {cores['server']:.2f}, generator {generator:.2f}, "
            f"everything else on the machine {others:.2f}",
            flush=True,
        )
        if result.errors:
            print(f"[{name}] first error: {result.first_error}")
        return result

    sections = set(args.only)
    # 1. stock SDK
    if "stock" in sections:
        with serving([("stock", reference("stock"), None)], logdir) as (stock,):
            await measure("stock", [stock.port], [stock.process.pid])
            if args.idle_sessions:
                extras["memory_stock"] = await idle_memory(stock.process.pid, stock.port, args.idle_sessions)

    # 2. ours, in-memory backend
    if "memory" in sections:
        with serving([("memory", ours(), None)], logdir) as (memory,):
            print(f"[memory] /healthz {await http_get_json(memory.port, '/healthz')}")
            await measure("memory", [memory.port], [memory.process.pid])
            if args.resume_trials:
                extras["resume_memory"] = await resume_latency(memory.port, memory.port, args.resume_trials)
            if args.idle_sessions:
                extras["memory_memory"] = await idle_memory(memory.process.pid, memory.port, args.idle_sessions)

        # 2b. supplementary, a setting and not code: the same without the two INFO log lines per call
        with serving([("memory-warn", ours(), {"PRYNAI_LOG_LEVEL": "WARNING"})], logdir) as (quiet,):
            await measure("memory-warn", [quiet.port], [quiet.process.pid])

    # 3. auth on vs off: the same server with and without AUTH_REQUIRED (Entra ID, keys from the local stand-in,
    # one token per worker reused as a client does), both up at once and loaded in turn, --auth-rounds times each:
    # alternating takes the machine's drift out of a ratio of two close numbers.
    if "auth" in sections and args.auth_rounds:
        with running_standin() as standin:
            client = standin.authority.add_client(roles=["Mcp.Invoke"])
            token = standin.authority.mint(client)
            env = standin.server_env(ENTRA_REQUIRED_APP_ROLES="Mcp.Invoke")
            with serving([("auth-off", ours(), None), ("auth-on", ours(), env)], logdir) as (plain, protected):
                rounds: list[tuple[LoadResult, LoadResult]] = []
                for _ in range(args.auth_rounds):
                    off = await measure("auth-off", [plain.port], [plain.process.pid])
                    on = await measure("auth-on", [protected.port], [protected.process.pid], token=token)
                    rounds.append((off, on))
                extras["auth_rounds"] = [round_figures(off, on) for off, on in rounds]

    # 4. ours, Redis, two replicas, per-request rotation
    if "redis" in sections:
        redis = RedisServer()
        redis.start()
        try:
            assert redis.process is not None
            env = {"REDIS_URL": redis.url()}
            with serving([("redis-a", ours(), env), ("redis-b", ours(), env)], logdir) as (a, b):
                health = [await http_get_json(replica.port, "/healthz") for replica in (a, b)]
                print(f"[redis] /healthz {health[0]} {health[1]}")
                pids = [a.process.pid, b.process.pid, redis.process.pid]
                await measure("redis", [a.port, b.port], pids)
                if args.resume_trials:
                    extras["resume_redis"] = await resume_latency(a.port, b.port, args.resume_trials)
                if args.idle_sessions:
                    extras["memory_redis"] = await idle_memory(a.process.pid, a.port, args.idle_sessions, redis.port)
        finally:
            redis.close()

    # 5. ceiling
    if "ceiling" in sections:
        with serving([("ceiling", reference("ceiling"), None)], logdir) as (ceiling,):
            await measure("ceiling", [ceiling.port], [ceiling.process.pid], mcp=False)

    # 6. the 2026-07-28 wire: the stock SDK and ours, one process each, the same tool; the ceiling fed the same body
    if "modern" in sections:
        quiet_logs = {"PRYNAI_LOG_LEVEL": "WARNING"}
        modern_setups: list[tuple[str, list[str], Mapping[str, str] | None]] = [
            ("stock-modern", reference("stock"), None),
            ("memory-modern", ours(), None),
            ("memory-modern-warn", ours(), quiet_logs),  # supplementary: without the two INFO lines per call
            ("ceiling-modern", reference("ceiling"), None),
        ]
        for name, argv, modern_env in modern_setups:
            with serving([(name, argv, modern_env)], logdir) as (proc,):
                await measure(name, [proc.port], [proc.process.pid], mcp=name != "ceiling-modern", wire="modern")

    # 7. telemetry on vs off: two of ours, both up at once, one exporting traces and metrics over OTLP/HTTP to a sink
    # (a separate process, so decoding nothing it costs the server nothing); loaded in turn on each wire, as auth is.
    if "telemetry" in sections and args.telemetry_rounds:
        with serving([("otel-sink", reference("sink"), None)], logdir) as (sink,):
            env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.port}"}
            with serving([("telemetry-off", ours(), None), ("telemetry-on", ours(), env)], logdir) as (plain, traced):
                by_wire: dict[str, list[dict[str, float]]] = {"legacy": [], "modern": []}
                for _ in range(args.telemetry_rounds):
                    for wire in by_wire:
                        suffix = "" if wire == "legacy" else "-modern"
                        off = await measure(f"telemetry-off{suffix}", [plain.port], [plain.process.pid], wire=wire)
                        on = await measure(f"telemetry-on{suffix}", [traced.port], [traced.process.pid], wire=wire)
                        by_wire[wire].append(round_figures(off, on))
                extras["telemetry_rounds"] = by_wire
            extras["telemetry_sink"] = await http_get_json(sink.port, "/stats")
    print(f"\nload average : {load_avg()} at end\n")
    report(results, extras, args)
    if args.json:
        dump = {
            "command": command.strip(),
            "load": load,
            "results": {
                name: {
                    "throughput": r.throughput,
                    "p50_ms": r.percentile(50) * 1000,
                    "p95_ms": r.percentile(95) * 1000,
                    "p99_ms": r.percentile(99) * 1000,
                    "requests": len(r.latencies),
                    "errors": r.errors,
                    "server_cpu_cores": r.cpu.get("server", 0.0) / args.seconds,
                    "machine_cpu_cores": r.cpu.get("machine", 0.0) / args.seconds,
                    "generator_cpu_cores": r.generator_cpu / args.seconds,
                }
                for name, r in results.items()
            },
            "extras": extras,
        }
        await asyncio.to_thread(Path(args.json).write_text, json.dumps(dump, indent=2))
    return 1 if any(r.errors for r in results.values()) else 0


LABELS = {
    "stock": "stock SDK MCPServer, 1 process, in-memory",
    "memory": "PrynAI, in-memory backend, 1 process",
    "memory-warn": "  same, PRYNAI_LOG_LEVEL=WARNING (supplementary)",
    "auth-off": "  same, last auth round, AUTH_REQUIRED off",
    "auth-on": "  same, last auth round, AUTH_REQUIRED on (Entra JWT)",
    "redis": "PrynAI, Redis, 2 replicas, per-request rotation",
    "ceiling": "bare Starlette JSON endpoint (ceiling)",
    "telemetry-off": "  same as in-memory, last round, telemetry off",
    "telemetry-on": "  same, last round, telemetry on (OTLP to a sink)",
    "stock-modern": "stock SDK MCPServer, 1 process",
    "memory-modern": "PrynAI, in-memory backend, 1 process",
    "memory-modern-warn": "  same, PRYNAI_LOG_LEVEL=WARNING (supplementary)",
    "ceiling-modern": "bare Starlette JSON endpoint (ceiling)",
    "telemetry-off-modern": "  PrynAI, last round, telemetry off",
    "telemetry-on-modern": "  PrynAI, last round, telemetry on (OTLP to a sink)",
}
MODERN = {
    "stock-modern",
    "memory-modern",
    "memory-modern-warn",
    "ceiling-modern",
    "telemetry-off-modern",
    "telemetry-on-modern",
}


def cpu_ms_per_call(result: LoadResult) -> float:
    """Server CPU (all replicas and Redis) per measured call, in ms: the cost, whatever else the machine was doing."""
    return 1000 * result.cpu.get("server", 0.0) / len(result.latencies) if result.latencies else float("nan")


def round_figures(off: LoadResult, on: LoadResult) -> dict[str, float]:
    """One alternating round of a feature off, then on: throughputs, their ratio, CPU per call of each."""
    return {
        "off": off.throughput,
        "on": on.throughput,
        "ratio": on.throughput / off.throughput if off.throughput else float("nan"),
        "cpu_ms_off": cpu_ms_per_call(off),
        "cpu_ms_on": cpu_ms_per_call(on),
    }


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def table(
    results: dict[str, LoadResult], names: list[str], stock: LoadResult | None, ceiling: LoadResult | None
) -> None:
    header = (
        f"{'server':50} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'x stock':>8} {'x ceiling':>9} "
        f"{'CPU ms/call':>11}"
    )
    print(header)
    print("-" * len(header))
    for name in names:
        r = results[name]
        x_stock = f"{r.throughput / stock.throughput:8.2f}" if stock and stock.throughput else f"{'-':>8}"
        x_ceiling = f"{r.throughput / ceiling.throughput:9.2f}" if ceiling and ceiling.throughput else f"{'-':>9}"
        print(
            f"{LABELS[name]:50} {r.throughput:8.0f} {ms(r.percentile(50)):>8} {ms(r.percentile(95)):>8} "
            f"{ms(r.percentile(99)):>8} {x_stock} {x_ceiling} {cpu_ms_per_call(r):11.2f}"
        )
    print()


def report(results: dict[str, LoadResult], extras: dict[str, object], args: argparse.Namespace) -> None:
    legacy = [name for name in results if name not in MODERN]
    modern = [name for name in results if name in MODERN]
    stock = results.get("stock")
    if legacy:
        print("session-based wire (2025-11-25)")
        table(results, legacy, stock, results.get("ceiling"))
    if modern:
        print("2026-07-28 wire")
        table(results, modern, results.get("stock-modern"), results.get("ceiling-modern"))
    for name, label, target in (("memory", "in-memory", 1.2), ("redis", "Redis", 1.0)):
        base = results.get("stock")
        if name in results and base is not None and base.throughput:
            ratio = results[name].throughput / base.throughput
            print(f"target {label:9} >= {target:.2f} x stock : {ratio:.2f}  {'MET' if ratio >= target else 'MISSED'}")
    if "memory-modern" in results and "stock-modern" in results:
        ours, stock = results["memory-modern"], results["stock-modern"]
        print(
            f"2026-07-28 wire, ours / stock (no target): throughput {ours.throughput / stock.throughput:.2f}, "
            f"CPU per call {cpu_ms_per_call(ours) / cpu_ms_per_call(stock):.2f}"
        )
    rounds = extras.get("auth_rounds")
    if isinstance(rounds, list) and rounds:
        auth_ratio = median([r["ratio"] for r in rounds])
        each = ", ".join(f"{r['on']:.0f}/{r['off']:.0f} = {r['ratio']:.2f}" for r in rounds)
        print(
            f"target auth on   >= 0.90 x off   : {auth_ratio:.2f}  {'MET' if auth_ratio >= 0.9 else 'MISSED'}"
            f"  (median of {len(rounds)} rounds, on/off req/s: {each})"
        )
        cpu_on = median([r["cpu_ms_on"] for r in rounds])
        cpu_off = median([r["cpu_ms_off"] for r in rounds])
        print(
            f"auth CPU per call (median): off {cpu_off:.3f} ms, on {cpu_on:.3f} ms, "
            f"off/on {cpu_off / cpu_on:.2f} (the ratio the CPU cost alone allows)"
        )
    by_wire = extras.get("telemetry_rounds")
    if isinstance(by_wire, dict):
        for wire, wire_rounds in by_wire.items():
            if not wire_rounds:
                continue
            cpu_off = median([r["cpu_ms_off"] for r in wire_rounds])
            cpu_on = median([r["cpu_ms_on"] for r in wire_rounds])
            each = ", ".join(
                f"{r['cpu_ms_off']:.3f}/{r['cpu_ms_on']:.3f} ms, {r['on']:.0f}/{r['off']:.0f} req/s"
                for r in wire_rounds
            )
            print(
                f"telemetry on vs off, {wire} wire (median of {len(wire_rounds)} rounds): CPU per call off "
                f"{cpu_off:.3f} ms, on {cpu_on:.3f} ms (+{cpu_on - cpu_off:.3f} ms, {cpu_on / cpu_off - 1:+.0%}); "
                f"throughput on/off {median([r['ratio'] for r in wire_rounds]):.2f}  (per round, CPU off/on and "
                f"req/s on/off: {each})"
            )
        sink = extras.get("telemetry_sink")
        if isinstance(sink, dict):
            print(f"telemetry sink received {sink['posts']} OTLP posts, {sink['bytes'] / 1e6:.1f} MB")
    for key, label in (("resume_redis", "replica A -> B, Redis"), ("resume_memory", "same process, in-memory")):
        trials = extras.get(key)
        if isinstance(trials, list) and trials:
            print(
                f"resume latency ({label}): p50 {ms(percentile(trials, 50))} ms, p95 {ms(percentile(trials, 95))} ms, "
                f"max {ms(max(trials))} ms over {len(trials)} trials (GET with Last-Event-ID -> first replayed event)"
            )
    for key, label in (
        ("memory_stock", "stock SDK"),
        ("memory_memory", "PrynAI in-memory"),
        ("memory_redis", "PrynAI replica, Redis"),
    ):
        found = extras.get(key)
        if isinstance(found, dict):
            line = (
                f"idle session memory ({label}): {found['kib_per_session']:.1f} KiB RSS per session "
                f"({found['rss_before_kib'] / 1024:.1f} -> {found['rss_after_kib'] / 1024:.1f} MiB for "
                f"{args.idle_sessions} sessions)"
            )
            if "redis_bytes_per_session" in found:
                line += f"; Redis used_memory {found['redis_bytes_per_session']:.0f} B per session"
            print(line)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per server (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds, not measured (default 2)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections / sessions (default 32)")
    parser.add_argument("--resume-trials", type=int, default=30, help="Last-Event-ID resume trials (0: skip)")
    parser.add_argument("--idle-sessions", type=int, default=1000, help="idle sessions for memory (0: skip)")
    parser.add_argument(
        "--quiet-wait", type=float, default=30.0, help="wait up to this long for other work to calm down (default 30)"
    )
    parser.add_argument(
        "--auth-rounds", type=int, default=5, help="alternating auth off/on measurements (default 5; 0: skip)"
    )
    parser.add_argument(
        "--telemetry-rounds",
        type=int,
        default=3,
        help="alternating telemetry off/on measurements, on each wire (default 3; 0: skip)",
    )
    parser.add_argument(
        "--only",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        default=list(SECTIONS),
        help=f"run only these sections, comma separated (default all: {','.join(SECTIONS)})",
    )
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        parser.error(f"--only: unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    return args


def run() -> int:
    args = parse_args()
    try:  # the generator's own event loop: uvloop when installed (uvicorn[standard] brings it), as the servers use
        import uvloop

        return asyncio.run(main(args), loop_factory=uvloop.new_event_loop)
    except ImportError:
        return asyncio.run(main(args))


if __name__ == "__main__":
    raise SystemExit(run())
