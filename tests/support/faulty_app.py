"""The real server with a fault a test can set off, for failures no input provokes once the bugs behind them are fixed.

Test-only, never shipped: `uvicorn tests.support.faulty_app:create_app --factory` (the container's own way to run
`prynai_mcp.app:create_app`). A request to /mcp carrying `X-Test-Fault` reaches the /mcp route and fails there, inside
every middleware of the product, as a bug of the transport would:
- `raise`: raises before anything is answered;
- `after-start`: starts an SSE answer, sends one event, then raises.
Requests without the header are served by the real route, unchanged.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from prynai_mcp.app import MCP_PATH
from prynai_mcp.app import create_app as create_real_app

FAULT_HEADER = "X-Test-Fault"
FAULT_TEXT = "injected fault"  # what the exception says: the client must never see it


class InjectedFault(RuntimeError):
    pass


def create_app() -> Starlette:
    app = create_real_app()
    route = next(r for r in app.router.routes if isinstance(r, Route) and r.path == MCP_PATH)
    route.app = _faulty(route.app)
    return app


def _faulty(real: ASGIApp) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        fault = Headers(scope=scope).get(FAULT_HEADER)
        if fault == "raise":
            raise InjectedFault(FAULT_TEXT)
        if fault == "after-start":
            headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"event: message\ndata: {}\n\n", "more_body": True})
            raise InjectedFault(FAULT_TEXT)
        await real(scope, receive, send)

    return app
