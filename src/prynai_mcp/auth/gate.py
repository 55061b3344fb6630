"""`BearerGate`: the HTTP answer to a bad or insufficient token on /mcp, with the reason in it.

Why a middleware of our own: the SDK's `BearerAuthBackend` turns every refusal into "no user", and its
`RequireAuthMiddleware` then answers 401 "Authentication required", whatever went wrong; a verifier that raises
instead gets a plain-text 400 from Starlette. So the gate sits in front of the SDK's auth middleware, on /mcp only:

- no `Authorization: Bearer` header: passed on, the SDK answers 401 with its `WWW-Authenticate` (as the spec wants);
- a token the verifier refuses: 401 `invalid_token`, the reason in `error_description` (body and header);
- an authentic token lacking a scope or app role: 403 `insufficient_scope` naming what is missing;
- the authority's keys unreachable: 503 with `Retry-After` (a server problem, not the client's token);
- an acceptable token: passed on; the SDK's backend gets the verifier's cached result (no second verification).

The body and header have the SDK's shape (`{"error", "error_description"}`, `Bearer error=..., resource_metadata=...`)
so clients see one format whoever answered. Health endpoints and the RFC 9728 document are never touched.
"""

from __future__ import annotations

import json
import logging

from pydantic import AnyHttpUrl
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from prynai_mcp import telemetry
from prynai_mcp.auth.reasons import AuthorityUnavailable, TokenRejected
from prynai_mcp.auth.verifier import EntraTokenVerifier

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


def _quoted(value: str) -> str:
    """A quoted-string for WWW-Authenticate: descriptions are ours, but never let one break the header."""
    return '"' + value.replace("\\", "\\\\").replace('"', "'") + '"'


class BearerGate:
    """ASGI middleware for `path`: answers refused tokens itself (401/403/503) with the reason."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: EntraTokenVerifier,
        resource_metadata_url: AnyHttpUrl | str | None,
        path: str = "/mcp",
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.resource_metadata_url = str(resource_metadata_url) if resource_metadata_url else None
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.path or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        authorization = Headers(scope=scope).get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            telemetry.auth_rejected("missing_token", 401)
            await self.app(scope, receive, send)  # the SDK answers 401 "Authentication required"
            return
        token = token.strip()
        try:
            verified = await self.verifier.check(token)
        except TokenRejected as rejected:
            logger.info("bearer token refused", extra={"event": "auth_refused", "reason": str(rejected.reason)})
            telemetry.auth_rejected(str(rejected.reason), 401)
            await self._refuse(send, 401, "invalid_token", rejected.description)
            return
        except AuthorityUnavailable:
            telemetry.auth_rejected("authority_unavailable", 503)
            await self._refuse(
                send,
                503,
                "temporarily_unavailable",
                "The authority's signing keys are unavailable; try again shortly.",
                retry_after=RETRY_AFTER_SECONDS,
            )
            return
        if verified.missing is not None:
            missing = verified.missing
            logger.info("bearer token lacks permissions", extra={"event": "auth_forbidden", "missing": missing.names})
            telemetry.auth_rejected("missing_" + missing.kind.replace(" ", "_"), 403)
            policy = self.verifier.policy
            scopes = [policy.full_scope(n) for n in missing.names] if missing.kind == "scope" else []
            await self._refuse(
                send,
                403,
                "insufficient_scope",
                missing.description,
                scope=" ".join(scopes or [policy.full_scope(".default")]),
            )
            return
        await self.app(scope, receive, send)

    async def _refuse(
        self,
        send: Send,
        status: int,
        error: str,
        description: str,
        *,
        scope: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        params = [f"error={_quoted(error)}", f"error_description={_quoted(description)}"]
        if scope:
            params.append(f"scope={_quoted(scope)}")
        if self.resource_metadata_url:
            params.append(f"resource_metadata={_quoted(self.resource_metadata_url)}")
        body = json.dumps({"error": error, "error_description": description}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        if status != 503:
            headers.append((b"www-authenticate", f"Bearer {', '.join(params)}".encode()))
        if retry_after is not None:
            headers.append((b"retry-after", str(retry_after).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
