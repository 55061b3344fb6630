"""Start the real server (`prynai-mcp serve` under uvicorn) as a subprocess on a random loopback port."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    url: str  # scheme://127.0.0.1:PORT
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def mcp_url(self) -> str:
        return f"{self.url}/mcp"

    def log(self, since: int = 0) -> str:
        """What the server printed (from byte offset `since`: see `log_size`)."""
        with self.log_path.open("rb") as file:
            file.seek(since)
            return file.read().decode(errors="replace")

    def log_size(self) -> int:
        """Where the log ends now: `log(since=...)` then reads what a test made the server write."""
        return self.log_path.stat().st_size

    def log_records(self, since: int = 0) -> list[dict[str, Any]]:
        """The log's JSON lines (one object per line, as operators read them); other lines as `{"raw": line}`."""
        records: list[dict[str, Any]] = []
        for line in self.log(since).splitlines():
            try:
                parsed = json.loads(line)
            except ValueError:
                parsed = None
            records.append(parsed if isinstance(parsed, dict) else {"raw": line})
        return records


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any server setting, plus `extra`: what a server under test starts with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRYNAI_", "ENTRA_", "REDIS_", "AUTH_", "SSL_"))}
    env.pop("CORS_ALLOW_ORIGINS", None)
    env.update(extra or {})
    return env


def _wait_ready(server: RunningServer, verify: ssl.SSLContext | bool) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx2.Client(verify=verify, trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log()}")
            with contextlib.suppress(httpx2.HTTPError):
                if client.get(f"{server.url}/livez").status_code == 200:
                    return
            time.sleep(0.1)
    raise RuntimeError(f"server did not become ready in {STARTUP_TIMEOUT}s:\n{server.log()}")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def running_server(
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    *,
    scheme: str = "http",
    verify: ssl.SSLContext | bool = True,
    port: int | None = None,
    command: Sequence[str] | None = None,
    cwd: Path | None = None,
) -> Iterator[RunningServer]:
    """Run `prynai-mcp serve` with `env` added to a clean environment; yield once /livez answers.

    `command` replaces `prynai-mcp serve --host 127.0.0.1 --port PORT` (then the server must listen on `port` by its
    own settings); `cwd` is where it runs (a `.env` there is read)."""
    port = port or free_port()
    log_file = tempfile.NamedTemporaryFile(prefix="prynai-server-", suffix=".log", delete=False)
    if command is None:
        command = [sys.executable, "-m", "prynai_mcp.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    process = subprocess.Popen(command, env=clean_env(env), cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT)
    server = RunningServer(url=f"{scheme}://127.0.0.1:{port}", process=process, log_path=Path(log_file.name))
    try:
        _wait_ready(server, verify)
        yield server
    finally:
        stop(process)
        log_file.close()
