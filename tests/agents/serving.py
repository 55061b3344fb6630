"""Serve an ASGI app with uvicorn on a free 127.0.0.1 port in a background thread, for the block."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from tests.support.server import free_port


@contextlib.contextmanager
def serving(app: ASGIApp, name: str, **options: Any) -> Iterator[int]:
    """Yield the port once the app answers; `options` go to `uvicorn.Config` (e.g. `ssl_certfile`)."""
    port = free_port()
    # A short graceful shutdown: clients holding keep-alive or stream connections would otherwise delay the stop.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1, **options
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
