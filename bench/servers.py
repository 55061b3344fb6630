"""The two reference servers of the benchmark, each run as its own process under uvicorn on 127.0.0.1.

    python bench/servers.py stock --port N     # the SDK's MCPServer with the same `add` tool (both wires)
    python bench/servers.py ceiling --port N   # a bare Starlette JSON endpoint doing the same work: the ceiling
    python bench/servers.py sink --port N      # an OTLP/HTTP endpoint that accepts and drops what it is sent

All use uvicorn's defaults (uvloop and httptools when installed), as `prynai-mcp serve` does, with access logs off.
The sink stands in for an OpenTelemetry collector when the benchmark measures telemetry on; it does not decode the
payloads (its CPU is not the server's) and answers `GET /stats` with how many posts and bytes it took.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def stock_app() -> Any:
    """The stock SDK server: one process, in-memory sessions, no event store, SSE replies (the SDK's default)."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.transport_security import TransportSecuritySettings

    mcp: MCPServer[Any] = MCPServer("stock-sdk")

    @mcp.tool(description="Return a + b.")
    def add(a: int, b: int) -> int:
        return a + b

    return mcp.streamable_http_app(
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )


def ceiling_app() -> Starlette:
    """Parse a JSON-RPC tools/call body, add, answer a JSON-RPC result shaped like an MCP tool result."""

    async def call(request: Request) -> Response:
        message = json.loads(await request.body())
        arguments = message["params"]["arguments"]
        total = arguments["a"] + arguments["b"]
        result = {
            "content": [{"type": "text", "text": str(total)}],
            "structuredContent": {"result": total},
            "isError": False,
        }
        return JSONResponse({"jsonrpc": "2.0", "id": message["id"], "result": result})

    return Starlette(routes=[Route("/mcp", call, methods=["POST"])])


def sink_app() -> Starlette:
    """Accept OTLP/HTTP exports (an empty protobuf response is a full success) and count them."""
    stats = {"posts": 0, "bytes": 0}

    async def accept(request: Request) -> Response:
        stats["posts"] += 1
        stats["bytes"] += len(await request.body())
        return Response(b"", media_type="application/x-protobuf")

    async def report(request: Request) -> Response:
        return JSONResponse(stats)

    return Starlette(
        routes=[
            Route("/v1/traces", accept, methods=["POST"]),
            Route("/v1/metrics", accept, methods=["POST"]),
            Route("/stats", report, methods=["GET"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["stock", "ceiling", "sink"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = {"stock": stock_app, "ceiling": ceiling_app, "sink": sink_app}[args.kind]()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
