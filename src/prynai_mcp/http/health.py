"""`/healthz` (readiness: is the shared store reachable, is this replica taking work?) and `/livez` (liveness: is the
process serving?)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from prynai_mcp.drain import Drain
from prynai_mcp.state import StateBackend


def health_routes(backend: StateBackend, drain: Drain) -> list[Route]:
    async def healthz(request: Request) -> JSONResponse:
        # null: no Redis configured; true/false: whether it answered just now.
        redis = await backend.healthy()
        if drain.draining:
            # 503 takes the replica out of a balancer's rotation while it finishes what runs (see prynai_mcp.drain).
            return JSONResponse({"status": "draining", "redis": redis}, 503, headers={"Cache-Control": "no-store"})
        return JSONResponse({"status": "ok", "redis": redis}, headers={"Cache-Control": "no-store"})

    async def livez(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    return [Route("/healthz", healthz, methods=["GET"]), Route("/livez", livez, methods=["GET"])]
