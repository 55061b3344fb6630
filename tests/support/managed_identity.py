"""A stand-in for the managed-identity endpoint Azure Container Apps gives an app (`IDENTITY_ENDPOINT` with
`IDENTITY_HEADER`, the App Service protocol MSAL speaks), issuing short-lived tokens for Azure Managed Redis, and
playing Azure's side of Redis with Entra ID: each token it issues becomes a password of the identity's Redis user
(its object id), and tokens older than the one before are withdrawn, as they expire.

`with running_managed_identity(redis_admin, lifetime=6) as identity:` then `identity.env()` for the server.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import redis
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.server import free_port

RESOURCE = "https://redis.azure.com"


@dataclass
class ManagedIdentity:
    """The identity (client id, object id) and what its endpoint has issued."""

    admin: redis.Redis  # a client of the Redis that accepts the identity's tokens, allowed to change its ACL
    lifetime: float
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    header: str = field(default_factory=lambda: secrets.token_hex(16))
    issued: list[str] = field(default_factory=list)  # the tokens Redis accepts now (the last two)
    count: int = 0  # tokens issued
    refused: int = 0
    _key: str = field(default_factory=lambda: secrets.token_hex(32))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self) -> tuple[str, int]:
        expires = int(time.time() + self.lifetime)
        claims = {"oid": self.object_id, "aud": RESOURCE, "appid": self.client_id, "iat": int(time.time())}
        claims.update(exp=expires, uti=secrets.token_hex(8))  # two tokens of one second differ too
        token = jwt.encode(claims, self._key, algorithm="HS256")
        with self._lock:
            self.issued.append(token)
            # The new token signs in from now on; the one before stays valid a while (it has not expired yet).
            admin: Any = self.admin  # redis-py leaves execute_command untyped
            admin.execute_command("ACL", "SETUSER", self.object_id, "on", f">{token}", "~*", "&*", "+@all")
            for old in self.issued[:-2]:
                admin.execute_command("ACL", "SETUSER", self.object_id, f"<{old}")
            del self.issued[:-2]
        self.count += 1
        return token, expires

    def app(self) -> Starlette:
        async def token(request: Request) -> JSONResponse:
            wanted = request.query_params
            if request.headers.get("x-identity-header") != self.header or wanted.get("resource") != RESOURCE:
                self.refused += 1
                return JSONResponse({"statusCode": 400, "message": "bad request"}, status_code=400)
            if wanted.get("client_id", self.client_id) != self.client_id:
                self.refused += 1
                return JSONResponse({"statusCode": 400, "message": "unknown identity"}, status_code=400)
            value, expires = self.issue()
            return JSONResponse(
                {
                    "access_token": value,
                    "expires_on": str(expires),
                    "resource": RESOURCE,
                    "token_type": "Bearer",
                    "client_id": self.client_id,
                }
            )

        return Starlette(routes=[Route("/msi/token", token, methods=["GET"])])


@dataclass
class RunningManagedIdentity:
    identity: ManagedIdentity
    port: int

    def env(self) -> dict[str, str]:
        """What Azure Container Apps sets for an app with this user-assigned identity, plus the server's settings."""
        return {
            "IDENTITY_ENDPOINT": f"http://127.0.0.1:{self.port}/msi/token",
            "IDENTITY_HEADER": self.identity.header,
            "AZURE_CLIENT_ID": self.identity.client_id,
            "PRYNAI_REDIS_AUTH": "entra",
        }


@contextlib.contextmanager
def running_managed_identity(admin: redis.Redis, *, lifetime: float) -> Iterator[RunningManagedIdentity]:
    identity = ManagedIdentity(admin, lifetime)
    port = free_port()
    config = uvicorn.Config(identity.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="managed-identity", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the managed-identity stand-in did not start")
            time.sleep(0.05)
        yield RunningManagedIdentity(identity, port)
    finally:
        server.should_exit = True
        thread.join(10)
