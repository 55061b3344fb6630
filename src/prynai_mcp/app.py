"""The ASGI application: /mcp (Streamable HTTP, both wires), /healthz, /readyz, /livez, CORS, guards and access logs.

`create_app()` is what `prynai-mcp serve` (the container's command) runs; `uvicorn prynai_mcp.app:create_app --factory`
runs it too, without the request head's limits below.
Order of the edge, outermost first: access log -> body read timeout (408) -> CORS -> catch-all (JSON-RPC 500) ->
Host/Origin guard -> JSON error bodies -> drain gate -> routes. The request head's limits (timeout, size) are the HTTP
protocol's (`prynai_mcp.http.protocol`), before any of this runs. SIGTERM drains the replica before the server stops
(`prynai_mcp.drain`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.request_state import RequestStateBoundary
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from prynai_mcp import _sdk, telemetry
from prynai_mcp.auth import EntraAuth
from prynai_mcp.config import Settings
from prynai_mcp.drain import Drain, watch_stop_signals
from prynai_mcp.http.catch_all import CatchAll
from prynai_mcp.http.draining import RefuseNewRequests
from prynai_mcp.http.errors import JsonErrorBodies, UnavailableAs503
from prynai_mcp.http.guard import HostOriginGuard
from prynai_mcp.http.health import health_routes
from prynai_mcp.http.mcp_routes import mcp_routes
from prynai_mcp.http.read_timeout import BodyReadTimeout
from prynai_mcp.observability import AccessLog, configure_logging, mcp_log
from prynai_mcp.protocol_errors import invalid_params
from prynai_mcp.redis_store.client import report_store_outages
from prynai_mcp.redis_store.connectivity import watch_connectivity
from prynai_mcp.redis_store.request_state import SharedRequestState
from prynai_mcp.request_meta import bounded_meta
from prynai_mcp.server import build_server
from prynai_mcp.services import Services
from prynai_mcp.sessions.manager import RoamingSessionManager
from prynai_mcp.sessions.ownership import keep_lease
from prynai_mcp.sessions.recorder import SessionRecorder
from prynai_mcp.state import RedisBackend
from prynai_mcp.state.redis_bus import RedisSubscriptionBus
from prynai_mcp.tool_arguments import ArgumentErrors

MCP_PATH = "/mcp"
MCP_HEADERS = ["Mcp-Session-Id", "Mcp-Protocol-Version", "Mcp-Method", "Mcp-Name", "Last-Event-ID"]

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the whole server from `settings` (default: the environment)."""
    settings = settings or Settings()
    configure_logging(settings.prynai_log_level)
    telemetry.start(settings)  # before any Redis client is built: it decides which client that is
    services = Services.from_settings(settings)
    entra = EntraAuth.from_settings(settings, MCP_PATH) if settings.auth_required else None
    store = services.backend.store if isinstance(services.backend, RedisBackend) else None
    request_state = SharedRequestState.from_settings(settings, store)
    drain = Drain(settings.prynai_shutdown_grace_seconds)
    mcp = _build_mcp(settings, services, entra, request_state, drain)

    manager = RoamingSessionManager(
        _sdk.lowlevel(mcp),
        registry=services.registry,
        events=services.events,
        inbox=services.inbox,
        ownership=services.ownership,
        replica_id=services.replica_id,
        on_session_end=services.backend.forget_session,
        on_session_used=services.backend.touch_session,
        local_idle_seconds=min(settings.prynai_local_session_idle_seconds, settings.prynai_session_idle_seconds),
        retry_interval_ms=settings.prynai_sse_retry_ms,
        keepalive_seconds=settings.prynai_sse_keepalive_seconds,
        sse_after_seconds=settings.prynai_sse_after_ms / 1000,
        max_stream_seconds=settings.prynai_sse_max_stream_seconds,
        json_response=settings.prynai_json_response,
        max_request_body_size=settings.prynai_max_body_bytes,
        max_sessions=settings.prynai_max_sessions,
        slots=services.slots,
        # Host/Origin are checked by HostOriginGuard (it understands proxies and wildcards); the SDK's check is off.
        security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        drain=drain,
    )
    telemetry.watch_sessions(manager.open_sessions)
    mcp_route, auth_middleware = mcp_routes(MCP_PATH, manager, mcp.settings.auth, entra.verifier if entra else None)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await services.backend.start()
        if entra is not None:
            await entra.start()  # warm the key cache; an unreachable authority is logged, not fatal
        try:
            async with manager.run(), anyio.create_task_group() as tasks:
                if request_state is not None:
                    await tasks.start(request_state.run)  # the shared MRTR key, loaded before serving
                if isinstance(services.bus, RedisSubscriptionBus):
                    await tasks.start(services.bus.run)  # change events from every replica
                await tasks.start(services.inbox.run, manager.deliver_forwarded)
                await tasks.start(services.events.run)  # wakes the streams waiting for events
                await tasks.start(manager.keepalive.run)  # keeps open streams' sessions and slots alive
                await tasks.start(keep_lease, services.ownership, settings.prynai_replica_lease_seconds)
                # In memory, expired sessions are swept (Redis expires its keys itself).
                await tasks.start(services.sweep, min(30.0, settings.prynai_session_idle_seconds / 10))
                # Changes a dead replica left half-told are finished once its lease has lapsed.
                await tasks.start(services.changes.recover, settings.prynai_replica_lease_seconds / 3)
                if store is not None:
                    # One log line per change of Redis's state.
                    await tasks.start(functools.partial(watch_connectivity, store, auth=store.auth or None))
                await tasks.start(watch_stop_signals, drain)  # SIGTERM: drain first, then let uvicorn stop
                _announce(settings, services)
                yield
                tasks.cancel_scope.cancel()
                # Tell the other replicas at once that requests still claimed by this one will not be answered.
                with contextlib.suppress(Exception):
                    await services.ownership.retire()
        finally:
            if entra is not None:
                await entra.aclose()
            await services.backend.close()
            await telemetry.shutdown()  # export what is buffered

    middleware = [
        Middleware(AccessLog),
        # Outside the rest: a body trickled past the deadline is answered 408 whatever the app made of it.
        Middleware(BodyReadTimeout, seconds=settings.prynai_request_read_timeout_seconds),
        *telemetry.edge(),  # counts SSE streams (nothing while telemetry is off)
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Accept", *MCP_HEADERS],
            expose_headers=["Mcp-Session-Id", "WWW-Authenticate"],
        ),
        # Inside CORS, so a page reading /mcp from another origin can read a 500's body (and its request id) too.
        Middleware(CatchAll, path=MCP_PATH),
        Middleware(
            HostOriginGuard,
            path=MCP_PATH,
            allowed_hosts=settings.prynai_allowed_hosts,
            allowed_origins=[*settings.cors_allow_origins, *settings.prynai_allowed_origins],
        ),
        Middleware(JsonErrorBodies, path=MCP_PATH),
        Middleware(RefuseNewRequests, path=MCP_PATH, drain=drain, max_body_bytes=settings.prynai_max_body_bytes),
        Middleware(UnavailableAs503),
        *(entra.edge if entra else []),  # BearerGate: 401/403/503 with the reason, before the SDK's auth middleware
        *auth_middleware,
    ]
    routes = [*health_routes(services.backend, drain), *mcp_route]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


def _build_mcp(
    settings: Settings,
    services: Services,
    entra: EntraAuth | None,
    request_state: SharedRequestState | None,
    drain: Drain,
) -> MCPServer[Any]:
    argument_errors = ArgumentErrors()
    options: dict[str, Any] = {
        "middleware": [
            drain.track,  # the requests a drain waits for
            mcp_log,
            report_store_outages,
            invalid_params,
            bounded_meta,  # before anything of the request (its progress token) is stored
            SessionRecorder(services.registry),
            *(entra.server_middleware if entra else []),  # PRYNAI_TOOL_ROLES
            argument_errors,  # after the permission check: a forbidden tool says so, whatever its arguments
        ],
        "token_verifier": entra.verifier if entra else None,
        "auth": entra.settings if entra else None,
    }
    if request_state is not None:
        options["request_state_security"] = request_state.security
    if not settings.prynai_conformance:
        mcp = build_server(services, **options)
    else:
        from prynai_mcp import conformance

        # The fixture's JSON Schema 2020-12 tool can only be given at construction.
        mcp = build_server(
            services,
            extra_completion=conformance.conformance_completion,
            tools=conformance.conformance_tools(),
            **options,
        )
        conformance.register_conformance_fixture(mcp)
    argument_errors.bind(mcp)
    telemetry.instrument_server(mcp)  # our span per message in place of the SDK's (or neither, while off)
    if request_state is not None:
        # Only middleware outside the SDK's request-state boundary sees why sealing failed.
        chain = mcp.middleware
        boundary = next(i for i, layer in enumerate(chain) if isinstance(layer, RequestStateBoundary))
        chain.insert(boundary, request_state.explain_seal_failures)
    return mcp


def _announce(settings: Settings, services: Services) -> None:
    logger.info(
        "PrynAI MCP ready",
        extra={
            "event": "startup",
            "backend": services.backend.name,
            "auth": "entra" if settings.auth_required else "off",
            "conformance_fixture": settings.prynai_conformance,
        },
    )
    if not settings.auth_required:
        logger.warning(
            "AUTH_REQUIRED is not set: /mcp accepts requests without a token",
            extra={"event": "auth_disabled"},
        )
