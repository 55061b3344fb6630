"""Load test: MCP users on both wires against N replicas + Redis behind HAProxy, a replica killed under load.

    uv run python bench/load/run.py [--replicas 3] [--users 50] [--seconds 60] [--kill-at S] [--backend redis]
                                    [--p95-budget-ms 100] [--report DIR] [--url URL [--token TOKEN]]

Without `--url` it starts everything on 127.0.0.1: redis-server, `--replicas` x `prynai-mcp serve` (`--backend
memory`: no Redis, replicas that share nothing) and HAProxy (round robin, no stickiness). With `--kill-at S` it
SIGKILLs replica 0 S seconds into the run and starts it again at once. It then runs Locust in this process, headless,
with `--users` users (`--modern-ratio` of them on the 2026-07-28 wire, the rest session-based) for `--seconds`,
printing a progress line, and writes the report directory: Locust's CSV files and HTML report, `summary.json`,
`chart.png`, and every process's log under `logs/`. The verdict comes last; the exit status is 0 for PASS, 1 for
FAIL (the p95 budget missed, a session or a notification lost, or an error the fault does not explain), 2 when the
run could not be made. With `--url` the same users run against that deployment (`--token`, or PRYNAI_MCP_TOKEN:
a bearer token, e.g. from `uv run prynai-mcp token`); nothing is started and nothing is killed.
"""

from __future__ import annotations

# isort: off
import locust  # noqa: F401  first: it makes the standard library cooperative (gevent) before any socket exists

# isort: on

import argparse
import json
import logging
import os
import platform
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]
from ledger import Ledger, percentile
from locust.env import Environment
from locust.html import get_html_report
from locust.stats import PERCENTILES_TO_REPORT, StatsCSVFileWriter, stats_history
from protocol import COUNTER_URI, Outcome, envelope, exchange, modern_headers, request
from report import chart, per_request, verdict, verdict_text
from stack import Stack, cpu_seconds, machine_busy
from users import ModernUser, Plan, SessionUser
from wire import Connection, Endpoint

DEFAULT_MIX = "add=4,echo=4,read=2,bump=1,long=1"
STOP_TIMEOUT = 40.0  # seconds users get, once the run ends, to close their sessions and collect what they are owed


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/load/run.py", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--replicas", type=int, default=3, help="server replicas behind the balancer (default 3)")
    parser.add_argument("--users", type=int, default=50, help="Locust users (default 50)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the users run (default 60)")
    parser.add_argument(
        "--kill-at",
        type=float,
        default=None,
        help="SIGKILL replica 0 this many seconds in, restart it (default: no fault)",
    )
    parser.add_argument(
        "--backend",
        choices=["redis", "memory"],
        default="redis",
        help="state shared through Redis, or replicas that share nothing (default redis)",
    )
    parser.add_argument(
        "--p95-budget-ms", type=float, default=100.0, help="p95 of quick calls must not exceed this (default 100)"
    )
    parser.add_argument("--report", type=Path, default=None, help="report directory (default: a new one under /tmp)")
    parser.add_argument("--url", default=None, help="run against this /mcp URL instead of a local stack")
    parser.add_argument(
        "--token", default=os.environ.get("PRYNAI_MCP_TOKEN"), help="bearer token for --url (default: PRYNAI_MCP_TOKEN)"
    )
    parser.add_argument(
        "--modern-ratio", type=float, default=0.25, help="share of users on the 2026-07-28 wire (default 0.25)"
    )
    parser.add_argument("--think", type=float, default=1.0, help="mean think time between calls, seconds (default 1)")
    parser.add_argument(
        "--calls-per-session", type=int, default=30, help="calls per session, give or take half (default 30)"
    )
    parser.add_argument(
        "--mix",
        default=DEFAULT_MIX,
        help=f"weights of the calls (default {DEFAULT_MIX}); the 2026-07-28 users skip long",
    )
    parser.add_argument("--spawn-rate", type=float, default=None, help="users started per second (default: all in 1 s)")
    args = parser.parse_args(argv)
    if args.url and args.kill_at is not None:
        parser.error("--kill-at needs the local stack: it cannot kill a replica of --url")
    if args.kill_at is not None and not 0 < args.kill_at < args.seconds:
        parser.error("--kill-at must fall inside --seconds")
    if args.replicas < 1 or args.users < 1 or args.seconds <= 0 or not 0 <= args.modern_ratio <= 1:
        parser.error("--replicas and --users must be at least 1, --seconds positive, --modern-ratio within 0..1")
    try:
        args.mix_weights = {k: int(v) for k, v in (item.split("=") for item in args.mix.split(","))}
    except ValueError:
        parser.error(f"--mix: expected name=weight,... (e.g. {DEFAULT_MIX})")
    unknown = set(args.mix_weights) - {"add", "echo", "read", "bump", "long"}
    if unknown:
        parser.error(f"--mix: unknown calls {sorted(unknown)}")
    return args


def read_counter(endpoint: Endpoint) -> int | None:
    """The shared counter's value, read on the 2026-07-28 wire (no session needed)."""
    conn = Connection(endpoint)
    try:
        params = {"uri": COUNTER_URI, "_meta": envelope()}
        answer = exchange(conn, modern_headers("resources/read", COUNTER_URI), request(1, "resources/read", params))
        if answer.outcome is Outcome.OK:
            return int(answer.result["contents"][0]["text"])
        return None
    finally:
        conn.close()


class CpuSampler:
    """Per-process CPU (utime+stime from /proc) every second; a replica's restarts add up under one name."""

    def __init__(self, stack: Stack | None) -> None:
        self.stack = stack
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._done: dict[int, float] = {}  # last seen CPU of each pid

    def read(self, at: float) -> dict[str, float]:
        totals: dict[str, float] = {}
        for child in self.stack.children if self.stack else []:
            total = 0.0
            for pid in child.pids:
                now = cpu_seconds(pid)
                if now is not None:
                    self._done[pid] = now
                total += self._done.get(pid, 0.0)
            totals[child.name] = total
        totals["load generator"] = cpu_seconds(os.getpid()) or 0.0
        totals["machine"] = machine_busy()
        self.samples.append((at, totals))
        return totals

    def run(self, ledger: Ledger) -> None:
        while True:
            gevent.sleep(1.0)
            self.read(ledger.now())


def sessions_across_replicas(logs: Path) -> dict[str, Any]:
    """From the replicas' `http` log lines: requests each served, and how many sessions more than one served."""
    served: dict[str, set[str]] = {}
    requests: dict[str, int] = {}
    for log in sorted(logs.glob("replica-*.log")):
        count = 0
        with log.open(errors="replace") as lines:
            for line in lines:
                if '"event": "http"' not in line or '"path": "/mcp"' not in line:
                    continue  # health checks are not the users' requests
                count += 1
                try:
                    session = json.loads(line).get("session")
                except ValueError:
                    continue
                if session:
                    served.setdefault(session, set()).add(log.stem)
        requests[log.stem] = count
    several = sum(1 for replicas in served.values() if len(replicas) > 1)
    return {
        "requests_per_replica": requests,
        "sessions_seen": len(served),
        "sessions_served_by_several_replicas": several,
    }


def run(args: argparse.Namespace, endpoint: Endpoint, stack: Stack | None, report: Path) -> dict[str, Any]:
    ledger = Ledger()
    modern_mix = {k: v for k, v in args.mix_weights.items() if k != "long" and v > 0}
    plan = Plan(
        endpoint,
        ledger,
        think_seconds=args.think,
        calls_per_session=args.calls_per_session,
        session_mix={k: v for k, v in args.mix_weights.items() if v > 0},
        modern_mix=modern_mix or {"add": 1},
    )
    modern_users = round(args.users * args.modern_ratio)
    session_users = args.users - modern_users
    SessionUser.plan = ModernUser.plan = plan
    SessionUser.fixed_count, ModernUser.fixed_count = session_users, modern_users
    classes = [cls for cls, n in ((SessionUser, session_users), (ModernUser, modern_users)) if n]
    env = Environment(user_classes=classes, host=endpoint.url)  # type: ignore[arg-type]
    runner = env.create_local_runner()
    csv_writer = StatsCSVFileWriter(env, PERCENTILES_TO_REPORT, str(report / "locust"), full_history=True)
    helpers = [gevent.spawn(stats_history, runner), gevent.spawn(csv_writer.stats_writer)]
    counter_before = read_counter(endpoint) if args.backend == "redis" or args.url else None
    sampler = CpuSampler(stack)
    load_before = os.getloadavg()

    ledger.started = time.monotonic()
    first = sampler.read(0.0)
    helpers.append(gevent.spawn(sampler.run, ledger))
    runner.start(args.users, spawn_rate=args.spawn_rate or args.users)
    fault: dict[str, Any] = {}
    if stack is not None and args.kill_at is not None:
        helpers.append(gevent.spawn(inject_fault, stack, ledger, args.kill_at, fault))

    interval = 2.0 if args.seconds <= 30 else 5.0
    shown = 0
    while ledger.now() < args.seconds:
        gevent.sleep(min(interval, max(0.05, args.seconds - ledger.now())))
        shown = progress(ledger, runner.user_count, shown)
    ended = ledger.now()
    last = sampler.read(ended)
    plan.stopping.set()
    print(f"[{ended:6.1f}s] stopping: users close their sessions and collect what they are owed ...", flush=True)
    deadline = time.monotonic() + STOP_TIMEOUT
    while plan.finished_users < runner.user_count and time.monotonic() < deadline:
        gevent.sleep(0.2)
    ledger.unfinished_users = max(0, runner.user_count - plan.finished_users)
    users_run = runner.user_count
    runner.quit()
    gevent.sleep(1.2)  # one more pass of the CSV writer, now that every request is in
    counter_after = read_counter(endpoint) if counter_before is not None else None
    gevent.killall(helpers)
    csv_writer.close_files()
    html = get_html_report(env, show_download_link=False)  # type: ignore[no-untyped-call]
    (report / "locust.html").write_text(html, encoding="utf-8")

    moved = counter_after - counter_before if counter_after is not None and counter_before is not None else None
    notes = ledger.notifications(moved)
    quick = ledger.quick_latencies()
    requests = sum(1 for s in ledger.samples if s.name != "check")
    summary: dict[str, Any] = {
        "command": "uv run python bench/load/run.py " + " ".join(sys.argv[1:]),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": describe(args, endpoint, stack),
        "users": users_run,
        "session_users": session_users,
        "modern_users": modern_users,
        "seconds": args.seconds,
        "think_seconds": args.think,
        "mix": args.mix_weights,
        "sessions": ledger.sessions,
        "sessions_lost": len(ledger.lost),
        "notifications_lost": notes["lost"],
        "interrupted": ledger.interrupted_reported + ledger.interrupted_cut,
        "interrupted_reported": ledger.interrupted_reported,
        "interrupted_cut": ledger.interrupted_cut,
        "retried": ledger.retried,
        "draining": ledger.draining,
        "errors": sum(ledger.errors.values()),
        "error_kinds": dict(ledger.errors.most_common()),
        "requests": requests,
        "requests_per_second": requests / ended if ended else 0.0,
        "p50_ms": _ms(percentile(quick, 50)),
        "p95_ms": _ms(percentile(quick, 95)),
        "p99_ms": _ms(percentile(quick, 99)),
        "p95_budget_ms": args.p95_budget_ms,
        "per_request": per_request(ledger),
        "notifications": notes,
        "stream_cuts": ledger.stream_cuts,
        "resumed_requests": ledger.resumed_requests,
        "unfinished_users": ledger.unfinished_users,
        "lost_examples": ledger.lost[:20],
        "cpu_cores": cpu_cores(first, last, ended),
        "load_average": {"start": [round(x, 2) for x in load_before], "end": [round(x, 2) for x in os.getloadavg()]},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, Python "
        f"{platform.python_version()}, locust {version('locust')}",
    }
    if fault:
        summary["fault"] = fault
    if stack is not None:
        summary["balancer"] = sessions_across_replicas(report / "logs")
    summary["verdict"], summary["verdict_reasons"] = verdict(summary)
    (report / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    title = (
        f"PrynAI MCP load test: {summary['target']}, {users_run} users ({modern_users} on 2026-07-28), "
        f"{args.seconds:g} s, verdict {summary['verdict']}"
    )
    chart(ledger, sampler.samples, args.p95_budget_ms, args.seconds, report / "chart.png", title)
    return summary


def describe(args: argparse.Namespace, endpoint: Endpoint, stack: Stack | None) -> str:
    if stack is None:
        return endpoint.url
    return f"{len(stack.replicas)} replicas, {args.backend} backend, {stack.haproxy_version()}"


def inject_fault(stack: Stack, ledger: Ledger, at: float, fault: dict[str, Any]) -> None:
    gevent.sleep(max(0.0, at - ledger.now()))
    replica = stack.replicas[0]
    ledger.fault_at = ledger.now()  # before the signal: whatever the kill cuts is the fault's
    fault.update(replica=replica.name, killed_at=round(ledger.fault_at, 2), pid=replica.pid)
    replica.kill()
    print(f"[{ledger.now():6.1f}s] {replica.name} SIGKILLed; starting it again", flush=True)
    replica.start()
    ledger.restarted_at = ledger.now()
    fault["back_at"] = round(ledger.restarted_at, 2)
    print(f"[{ledger.now():6.1f}s] {replica.name} serving again", flush=True)


def progress(ledger: Ledger, users: int, shown: int) -> int:
    """One line about the samples since the last one; returns how many samples are now shown."""
    fresh = ledger.samples[shown:]
    span = (fresh[-1].at - fresh[0].at) if len(fresh) > 1 else 1.0
    quick = [s.ms for s in fresh if s.kind == "ok" and s.name not in ("tools/call long_task", "GET stream")]
    p95 = percentile(quick, 95)
    print(
        f"[{ledger.now():6.1f}s] users {users:4d}  req/s {len(fresh) / max(span, 0.5):6.0f}  "
        f"p95 quick {p95:7.1f} ms  sessions {ledger.sessions} (lost {len(ledger.lost)})  "
        f"interrupted {ledger.interrupted_reported + ledger.interrupted_cut}  errors {sum(ledger.errors.values())}",
        flush=True,
    )
    return len(ledger.samples)


def cpu_cores(first: dict[str, float], last: dict[str, float], seconds: float) -> dict[str, float]:
    """Average cores each process used over the run; `others` is the rest of the machine (other people's work)."""
    cores = {name: round((last[name] - first.get(name, 0.0)) / seconds, 3) for name in last if seconds > 0}
    ours = sum(value for name, value in cores.items() if name != "machine")
    cores["others"] = round(max(0.0, cores.get("machine", 0.0) - ours), 3)
    return cores


def _ms(value: float) -> float | None:
    return None if value != value else round(value, 2)  # NaN: no sample


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    report = args.report or Path(tempfile.mkdtemp(prefix="prynai-load-report-"))
    report.mkdir(parents=True, exist_ok=True)
    (report / "logs").mkdir(exist_ok=True)
    # Ctrl+C and SIGTERM end the run in this greenlet, whichever one the signal arrived in (a user's would swallow
    # it: Locust catches what its tasks raise), and everything started is stopped on the way out.
    main_greenlet = gevent.getcurrent()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(
            stop_signal, lambda: gevent.get_hub().loop.run_callback(main_greenlet.throw, KeyboardInterrupt)
        )
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    stack: Stack | None = None
    try:
        if args.url:
            endpoint = Endpoint.from_url(args.url, args.token)
            print(f"target       : {endpoint.url} ({'with' if args.token else 'no'} bearer token)")
        else:
            stack = Stack(args.replicas, args.backend, report / "logs")
            print(f"starting     : {args.replicas} replicas ({args.backend} backend) behind HAProxy ...", flush=True)
            stack.start()
            endpoint = Endpoint.from_url(stack.url)
            ports = ", ".join(f"{r.name} :{r.port}" for r in stack.replicas)
            redis = f"redis :{stack.redis.port}, " if stack.redis else ""
            print(f"target       : {endpoint.url} (HAProxy) -> {ports}; {redis}logs in {report / 'logs'}")
        print(
            f"load         : {args.users} users ({args.modern_ratio:.0%} on 2026-07-28), {args.seconds:g} s, think "
            f"{args.think:g} s, mix {args.mix}"
            + (f", SIGKILL replica-0 at {args.kill_at:g} s" if args.kill_at else ""),
            flush=True,
        )
        print(f"load average : {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)", flush=True)
        summary = run(args, endpoint, stack, report)
    except KeyboardInterrupt:
        print("\nstopped: cleaning up everything this run started", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        if stack is not None:
            stack.close()
    print()
    print(f"report       : {report} (summary.json, chart.png, locust.html, locust_*.csv, logs/)")
    print("CPU, cores   : " + ", ".join(f"{k} {v:.2f}" for k, v in summary["cpu_cores"].items()))
    print(f"load average : {' '.join(f'{x:.2f}' for x in summary['load_average']['end'])} at the end")
    print(verdict_text(summary))
    return 0 if summary["verdict"] == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
