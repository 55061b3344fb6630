"""The deployment the load test runs against locally: Redis, N replicas (`prynai-mcp serve`) and HAProxy in front.

Everything listens on 127.0.0.1, on free ports. HAProxy balances round robin with no stickiness, passes streams
through (hour-long client and server timeouts; quiet SSE streams carry a keep-alive every 10 s), checks `/healthz`,
and sends a request that could not reach a replica to another one; a request that did reach one is never re-sent
(a tool call may have run). Each child process is tied to this one (PR_SET_PDEATHSIG), so none outlives the runner,
even if the runner itself is killed; `close()` stops them all in the normal case. Logs go to `<report>/logs/`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gevent  # type: ignore[import-untyped]
from wire import Connection, Endpoint, WireError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # tests.support: the Redis binary and free ports the tests use

from tests.support.redis import redis_server_binary  # noqa: E402
from tests.support.server import free_port  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STRIPPED_ENV_PREFIXES = ("PRYNAI_", "ENTRA_", "REDIS_", "AUTH_", "SSL_")
START_TIMEOUT = 60.0  # a busy 2-core machine starts a replica in a few seconds; leave room


def haproxy_binary() -> str | None:
    return shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if Path(p).is_file()), None)


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: the kernel sends SIGKILL to it when the runner dies.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(STRIPPED_ENV_PREFIXES)}
    env.pop("CORS_ALLOW_ORIGINS", None)
    env.update(extra)
    return env


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process, from /proc/PID/stat; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy() -> float:
    """CPU seconds all cores spent not idle since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLOCK_TICKS


@dataclass
class Child:
    """One process of the stack; `start()` again after it died starts a new one on the same port."""

    name: str
    port: int
    command: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    ready: Callable[[Child], bool] | None = None
    process: subprocess.Popen[bytes] | None = None
    pids: list[int] = field(default_factory=list)  # every process this child has been, oldest first

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command,
                env=clean_env(self.env),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        self.pids.append(self.process.pid)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log}")
            if self.ready is None or self.ready(self):
                return
            gevent.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become ready in {START_TIMEOUT:.0f} s; see {self.log}")

    def kill(self) -> None:
        """SIGKILL, as a crash or an out-of-memory kill would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _answers_ping(child: Child) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", child.port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")
    return False


def _ready(path: str) -> Callable[[Child], bool]:
    def check(child: Child) -> bool:
        conn = Connection(Endpoint("http", "127.0.0.1", child.port, path), timeout=2.0)
        try:
            response = conn.request("GET", {})
            response.read()
            return response.status == 200
        except WireError:
            return False
        finally:
            conn.close()

    return check


HAPROXY_CONFIG = """\
# Written by bench/load/run.py: round robin over the replicas, no stickiness, streams passed through.
global
    maxconn 8000
    log stdout format raw local0 info

defaults
    mode http
    log global
    # backend/server, status, termination state, total time: which replica served what, and how it ended.
    log-format "lb %b/%s %ST %tsc %Ta %HM retries=%rc session=%[capture.req.hdr(0)]"
    timeout connect 2s
    # SSE streams (GET /mcp, long tool calls) stay open; quiet ones carry a keep-alive comment every 10 s.
    timeout client 1h
    timeout server 1h
    timeout http-request 30s
    timeout http-keep-alive 30s
    # Send each piece of a response as it comes: without this HAProxy holds small writes (an SSE event, the headers
    # of a stream) for up to 200 ms, hoping to merge them with more.
    option http-no-delay
    # Name the client to the replicas (PRYNAI_TRUSTED_PROXIES=127.0.0.1 there): each is its own principal.
    option forwardfor
    # A request that could not reach a replica (it just died) goes to another; one that reached it is never resent.
    retries 3
    option redispatch 1
    retry-on conn-failure

frontend mcp
    bind 127.0.0.1:{port}
    http-request capture req.hdr(Mcp-Session-Id) len 64
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk
    # /readyz: 503 while a replica drains or cannot reach Redis, so it leaves the rotation.
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
    default-server inter 1s fall 2 rise 1
{servers}
"""


class Stack:
    """Redis (for `backend == "redis"`), `replicas` servers and HAProxy, started by `start()`, ended by `close()`."""

    def __init__(self, replicas: int, backend: str, logs: Path) -> None:
        self.backend = backend
        self.logs = logs
        self.config_dir = Path(tempfile.mkdtemp(prefix="prynai-load-"))
        self.redis: Child | None = None
        # HAProxy connects from 127.0.0.1; its X-Forwarded-For names the client (bounds are per client address).
        env: dict[str, str] = {"PRYNAI_TRUSTED_PROXIES": "127.0.0.1"}
        if backend == "redis":
            port = free_port()
            self.redis = Child(
                "redis",
                port,
                [
                    redis_server_binary(),
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.config_dir),
                ],
                logs / "redis.log",
                ready=_answers_ping,
            )
            env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        self.replicas: list[Child] = []
        for index in range(replicas):
            port = free_port()
            command = [sys.executable, "-m", "prynai_mcp.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
            self.replicas.append(
                Child(f"replica-{index}", port, command, logs / f"replica-{index}.log", env, _ready("/readyz"))
            )
        binary = haproxy_binary()
        if binary is None:
            raise RuntimeError("no haproxy: install Debian's haproxy (apt-get install -y haproxy)")
        port = free_port()
        config = self.config_dir / "haproxy.cfg"
        servers = "\n".join(f"    server r{i} 127.0.0.1:{r.port} check" for i, r in enumerate(self.replicas))
        config.write_text(HAPROXY_CONFIG.replace("{port}", str(port)).replace("{servers}", servers))
        self.balancer = Child(
            "haproxy", port, [binary, "-db", "-f", str(config)], logs / "haproxy.log", ready=_ready("/healthz")
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.balancer.port}/mcp"

    @property
    def children(self) -> list[Child]:
        return [*([self.redis] if self.redis else []), *self.replicas, self.balancer]

    def start(self) -> None:
        if self.redis is not None:
            self.redis.start()
        # Replicas start together: start-up is mostly the interpreter importing, on two cores.
        jobs = [gevent.spawn(replica.start) for replica in self.replicas]
        gevent.joinall(jobs)
        for job in jobs:
            if job.exception is not None:
                raise job.exception
        self.balancer.start()

    def close(self) -> None:
        for child in reversed(self.children):
            child.stop()
        shutil.rmtree(self.config_dir, ignore_errors=True)

    def haproxy_version(self) -> str:
        output = subprocess.run([self.balancer.command[0], "-v"], capture_output=True, text=True).stdout
        words = output.split()
        return f"HAProxy {words[2]}" if len(words) > 2 and words[1] == "version" else "HAProxy"
