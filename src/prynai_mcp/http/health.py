"""Health endpoints for probes and balancers.

- `/healthz`: the user's report, `{"status": "ok"|"draining", "redis": null|true|false}`; 503 only while draining.
- `/readyz`: readiness for a probe that takes a replica out of rotation: 503 while it cannot serve `/mcp` (Redis
  configured but unreachable, or draining), 200 otherwise. Same body.
- `/livez`: liveness: the process answers. Never depends on Redis, so an outage restarts nothing.
"""

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

    async def readyz(request: Request) -> JSONResponse:
        redis = await backend.healthy()
        if drain.draining:
            return JSONResponse({"status": "draining", "redis": redis}, 503, headers={"Cache-Control": "no-store"})
        if redis is False:  # every /mcp request that needs Redis would get 503 now: leave the rotation
            return JSONResponse({"status": "unavailable", "redis": False}, 503, headers={"Cache-Control": "no-store"})
        return JSONResponse({"status": "ok", "redis": redis}, headers={"Cache-Control": "no-store"})

    async def livez(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/livez", livez, methods=["GET"]),
    ]
