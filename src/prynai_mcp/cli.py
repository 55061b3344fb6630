"""Command line: `prynai-mcp serve` runs the server under uvicorn; `prynai-mcp token` gets a token to call it with.

Every option has an environment twin (see `prynai_mcp.config.Settings`); a flag given here wins.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
from collections.abc import Sequence
from types import FrameType

import uvicorn
from pydantic import ValidationError

from prynai_mcp.config import Settings
from prynai_mcp.http.protocol import http_protocol

# After the drain (`prynai_mcp.drain`) hands SIGTERM to uvicorn, nothing should be left but answers being flushed, and
# requests that outlived PRYNAI_SHUTDOWN_GRACE_SECONDS, which are to be cut: uvicorn waits this long, then cancels.
AFTER_DRAIN_SECONDS = 1


class _Server(uvicorn.Server):
    """uvicorn, ending with status 0 after a graceful shutdown.

    uvicorn raises the SIGTERM/SIGINT it handled again once it has shut down, so the process ends "killed by SIGTERM"
    (143) even when it drained cleanly. Here a handled signal only sets uvicorn's own exit flags (the programmatic way
    to stop it), as its handler does, without recording the signal for that second raise.
    """

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and sockets:
            # uvicorn says where it listens only for sockets it bound itself; operators (and tests) read this line.
            self._log_started_message(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl+C: stop waiting for connections
        else:
            self.should_exit = True


def _serve(args: argparse.Namespace) -> int:
    overrides: dict[str, object] = {}
    if args.host is not None:
        overrides["prynai_host"] = args.host
    if args.port is not None:
        overrides["prynai_port"] = args.port
    if args.conformance:
        overrides["prynai_conformance"] = True
    from prynai_mcp.app import create_app

    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
        # The address first: a busy port or a host that does not resolve is found before anything starts (and
        # before "ready" is logged), not after the app is up.
        listener = _bind(settings.prynai_host, settings.port)
        app = create_app(settings)
    except (ValidationError, ValueError) as error:
        # A setting that cannot work: say which and why in one line, not with a traceback.
        print(f"error: {_configuration_error(error)}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app,
        host=settings.prynai_host,
        port=settings.port,
        log_config=None,  # create_app already routed every logger through the JSON handler
        access_log=False,
        ssl_certfile=settings.ssl_certfile or None,
        ssl_keyfile=settings.ssl_keyfile or None,
        timeout_graceful_shutdown=AFTER_DRAIN_SECONDS,
        timeout_keep_alive=int(settings.prynai_http_keepalive_seconds),
        # httptools with what uvicorn leaves out: a deadline for the request head, and a cap on its size.
        http=http_protocol(
            read_timeout=settings.prynai_request_read_timeout_seconds,
            max_header_bytes=settings.prynai_max_header_bytes,
        ),
        h11_max_incomplete_event_size=settings.prynai_max_header_bytes,  # were h11 chosen instead
        # X-Forwarded-For / -Proto are believed only from the proxies named: anyone else could forge a client
        # address, and with it a principal (the per-principal bounds count client addresses when auth is off).
        proxy_headers=bool(settings.prynai_trusted_proxies),
        forwarded_allow_ips=settings.prynai_trusted_proxies or None,
    )
    server = _Server(config)
    server.run(sockets=[listener])
    return 0 if server.started else 3  # 3: uvicorn's "failed to start"


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on `host`:`port`, or a ValueError naming the setting that cannot work."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as error:
        raise ValueError(f"PRYNAI_HOST: {host!r} is not an address this machine can listen on ({error})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as error:
        sock.close()
        if error.errno == 98:  # EADDRINUSE
            raise ValueError(f"PRYNAI_PORT: {port} is already in use on {host}") from None
        raise ValueError(f"PRYNAI_HOST: cannot listen on {host}:{port} ({error.strerror})") from None
    sock.set_inheritable(True)
    return sock


def _configuration_error(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']).upper()}: {problem['msg']}" for problem in error.errors()
        )
    return str(error)


def _token(args: argparse.Namespace) -> int:
    from dotenv import find_dotenv, load_dotenv

    from prynai_mcp.auth.client_credentials import TokenUnavailable, acquire_token, describe, missing_settings

    load_dotenv(args.env_file or find_dotenv(usecwd=True), override=False)
    missing = missing_settings()
    if missing:
        print(f"error: set {', '.join(missing)} (environment or .env)", file=sys.stderr)
        return 2
    try:
        token = acquire_token()
    except TokenUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(describe(token), indent=2) if args.decode else token)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prynai-mcp", description="PrynAI MCP server")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the MCP server (Streamable HTTP at /mcp)")
    serve.add_argument("--host", help="address to listen on (PRYNAI_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (PRYNAI_PORT, default 8000, or 8443 with TLS)")
    serve.add_argument(
        "--conformance",
        action="store_true",
        help="add the official conformance suite's fixture (PRYNAI_CONFORMANCE=1)",
    )
    serve.set_defaults(handler=_serve)

    token = commands.add_parser(
        "token", help="print a client-credentials access token for this server (MSAL; ENTRA_* settings)"
    )
    token.add_argument("--decode", action="store_true", help="print the token's header and claims (not verified)")
    token.add_argument("--env-file", help="dotenv file to load (default: .env found from the current directory up)")
    token.set_defaults(handler=_token)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
