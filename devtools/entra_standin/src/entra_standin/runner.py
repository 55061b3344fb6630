"""Serve the stand-in over HTTPS on loopback: in a background thread (tests) or in the foreground (the CLI)."""

from __future__ import annotations

import contextlib
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from entra_standin.app import standin_app
from entra_standin.authority import ClientApp, StandInAuthority
from entra_standin.tls import TlsFiles, make_tls_files

HOST = "127.0.0.1"


@dataclass
class RunningStandIn:
    authority: StandInAuthority
    url: str  # https://127.0.0.1:PORT: ENTRA_AUTHORITY
    tls: TlsFiles

    @property
    def tenant_id(self) -> str:
        return self.authority.tenant_id

    @property
    def msal_authority(self) -> str:
        """What MSAL takes as `authority=` (with `instance_discovery=False`)."""
        return f"{self.url}/{self.tenant_id}"

    def server_env(self, **overrides: str) -> dict[str, str]:
        """Environment for an MCP server that accepts this stand-in's tokens (and trusts its CA)."""
        resource = self.authority.resource
        env = {
            "AUTH_REQUIRED": "true",
            "ENTRA_AUTHORITY": self.url,
            "ENTRA_TENANT_ID": self.tenant_id,
            "ENTRA_AUDIENCES": f"{resource.app_id},{resource.app_id_uri}",
            **self.tls.env(),
        }
        env.update(overrides)
        return env

    def client_env(self, client: ClientApp | None = None) -> dict[str, str]:
        """The client-side names of the user's documents, for `client` (default: the home tenant's first).

        With a public client registered in the home tenant, also ENTRA_PUBLIC_CLIENT_ID (interactive sign-in).
        """
        client = client or self.authority.default_client()
        resource = self.authority.resource
        env = {
            "ENTRA_AUTHORITY": self.url,
            "ENTRA_TENANT_ID": client.tenant_id,
            "ENTRA_CLIENT_ID": client.client_id,
            "ENTRA_CLIENT_SECRET": client.secret,
            "SERVER_APP_ID": resource.app_id,
            "SERVER_APP_ID_URI": resource.app_id_uri,
            **self.tls.env(),
        }
        public = [c for c in self.authority.public_clients.values() if c.tenant_id == client.tenant_id]
        if public:
            env["ENTRA_PUBLIC_CLIENT_ID"] = public[0].client_id
        return env


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(128)
    return sock


def _server(authority: StandInAuthority, tls: TlsFiles) -> uvicorn.Server:
    config = uvicorn.Config(
        standin_app(authority),
        ssl_certfile=str(tls.cert),
        ssl_keyfile=str(tls.key),
        log_level="warning",
        lifespan="off",
        # MSAL and httpx keep connections open; without this a TLS server waits for them on shutdown.
        timeout_graceful_shutdown=1,
    )
    return uvicorn.Server(config)


def prepare(authority: StandInAuthority, port: int, directory: Path) -> tuple[socket.socket, TlsFiles, str]:
    sock = _bind(port)
    url = f"https://{HOST}:{sock.getsockname()[1]}"
    authority.base_url = url
    return sock, make_tls_files(directory), url


@contextlib.contextmanager
def running_standin(
    authority: StandInAuthority | None = None, *, port: int = 0, directory: Path | None = None
) -> Iterator[RunningStandIn]:
    """The stand-in on `https://127.0.0.1:port` (0: any free port) in a background thread, for the block."""
    authority = authority or StandInAuthority()
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="standin-")))
        sock, tls, url = prepare(authority, port, directory)
        stack.callback(sock.close)
        server = _server(authority, tls)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="entra-standin", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Entra stand-in did not start")
            time.sleep(0.01)
        try:
            yield RunningStandIn(authority=authority, url=url, tls=tls)
        finally:
            server.should_exit = True
            thread.join(10)


def serve(
    authority: StandInAuthority, *, port: int, directory: Path, on_ready: Callable[[RunningStandIn], None]
) -> None:
    """Serve in the foreground until interrupted (Ctrl-C / SIGTERM); `on_ready` is told the address first."""
    sock, tls, url = prepare(authority, port, directory)
    try:
        on_ready(RunningStandIn(authority=authority, url=url, tls=tls))
        _server(authority, tls).run(sockets=[sock])
    finally:
        sock.close()
