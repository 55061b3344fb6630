"""Settings, read once from the environment (and a `.env` file) with the names the user's documents use.

Every knob of the server is here; nothing else reads `os.environ`. Names without the `PRYNAI_` prefix are the
user's own (DESIGN.md section 5) and keep their spelling; new names start with `PRYNAI_`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"]


def _csv(value: object) -> object:
    """Accept `a,b,c` from the environment as well as a real list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CsvList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """The server's configuration. Field names map to environment variables case-insensitively."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Identity of this deployment, shown in prynai://status.
    prynai_env: str = "local"
    prynai_build: str = "dev"

    # Listening address for `prynai-mcp serve`.
    prynai_host: str = "127.0.0.1"
    prynai_port: int | None = Field(default=None, ge=1, le=65535)  # None: 8000, or 8443 when TLS is on
    # Addresses (or CIDR ranges) of the proxies in front whose X-Forwarded-For / X-Forwarded-Proto are believed: the
    # client address (and with it the principal when auth is off) is the one they name. Empty: none, the peer
    # address is the client's. `*`: any peer (only when nothing but the proxy can reach the replicas).
    prynai_trusted_proxies: CsvList = Field(default_factory=list)

    # State backend: empty means the embedded in-memory backend.
    redis_url: str = ""
    prynai_redis_prefix: str = "prynai"
    # How to authenticate to Redis: "password" (whatever REDIS_URL carries, nothing included) or "entra" (Microsoft
    # Entra ID with the replica's managed identity: Azure Managed Redis with access keys disabled).
    prynai_redis_auth: Literal["password", "entra"] = "password"
    # The user-assigned managed identity's client id (the Azure SDKs' own name); empty: the system-assigned one.
    azure_client_id: str = ""
    # Keys sealing MRTR requestState (2026-07-28 wire), first = current, all accepted (rotation). Empty: with
    # REDIS_URL, one key generated once and shared through Redis; without, a per-process key.
    prynai_request_state_keys: CsvList = Field(default_factory=list)

    # HTTP surface.
    cors_allow_origins: CsvList = Field(default_factory=list)
    prynai_allowed_hosts: CsvList = Field(default_factory=lambda: list(LOOPBACK_HOSTS))
    prynai_allowed_origins: CsvList = Field(default_factory=list)
    prynai_max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    prynai_session_idle_seconds: float = Field(default=30 * 60, gt=0)
    # A replica drops its local copy of a session idle this long and rebuilds it from the registry when needed.
    prynai_local_session_idle_seconds: float = Field(default=5 * 60, gt=0)
    # Each SSE stream of a session keeps this many events, this long after its last one, for Last-Event-ID.
    prynai_event_log_max_events: int = Field(default=1000, gt=0)
    prynai_event_log_seconds: float = Field(default=60 * 60, gt=0)
    # Suggested reconnect delay sent to SSE clients, and the keep-alive period of quiet GET streams.
    prynai_sse_retry_ms: int = Field(default=1000, gt=0)
    prynai_sse_keepalive_seconds: float = Field(default=10, gt=0)
    # Longest time the server holds one SSE stream open before ending it with its position and a retry hint, so a
    # proxy that cuts long requests (Azure Container Apps: 240 s) never has to; the client resumes with
    # Last-Event-ID on any replica. 0: no limit. Request streams are ended so only for clients of 2025-11-25 or
    # later (earlier ones do not resume them); GET streams for any.
    prynai_sse_max_stream_seconds: float = Field(default=0, ge=0)
    # A request whose answer comes first and within this time is answered with one JSON body; any other gets an SSE
    # stream (resumable on any replica) once it sends something else or this time passes. 0: always a stream.
    prynai_sse_after_ms: int = Field(default=250, ge=0)
    # A replica that misses its heartbeat this long is dead: clients resuming its requests are told they were lost.
    prynai_replica_lease_seconds: float = Field(default=3, gt=0)
    # On SIGTERM/SIGINT, running requests get this long to finish before they are cut (and answered "interrupted" by
    # the other replicas). Keep it below the platform's kill timeout (Azure Container Apps: 30 s), less ~3 s.
    prynai_shutdown_grace_seconds: float = Field(default=20, ge=0)
    # Local copies of sessions one replica holds; past it the least recently used idle copies are dropped (they are
    # rebuilt from the registry when needed). With the in-memory backend it also bounds the sessions that exist.
    prynai_max_sessions: int = Field(default=10_000, gt=0)
    # Bounds no client may exceed, whatever it sends (each refusal is a JSON-RPC error with the setting's name).
    # GET streams one session may hold open at once, across every replica.
    prynai_max_streams_per_session: int = Field(default=4, gt=0)
    # Resources one session may be subscribed to.
    prynai_max_subscriptions_per_session: int = Field(default=100, gt=0)
    # Live sessions one principal (the token's tenant and object/app id; with auth off the client address) may hold,
    # counted across every replica.
    prynai_max_sessions_per_principal: int = Field(default=100, gt=0)
    # Bytes of events one SSE stream, and one session's streams together, keep for Last-Event-ID (oldest dropped).
    prynai_event_log_max_stream_bytes: int = Field(default=1024 * 1024, gt=0)
    prynai_event_log_max_session_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    # Redis connections one replica may open (waiting streams hold none: one reader wakes them all).
    prynai_redis_max_connections: int = Field(default=64, ge=8)
    # A request head (request line and headers) larger than this gets 431 (`prynai_mcp.http.protocol`).
    prynai_max_header_bytes: int = Field(default=32 * 1024, ge=4096)
    # A client that takes longer than this to send a request's headers, or its body, gets 408 and is cut off (slow
    # clients): headers by `prynai_mcp.http.protocol`, the body by `prynai_mcp.http.read_timeout`.
    prynai_request_read_timeout_seconds: float = Field(default=30, gt=0)
    # How long an idle client connection is kept open for its next request. Longer than the idle timeout of the
    # balancers in front (commonly 60 s), so a balancer never reuses a connection the server is closing.
    prynai_http_keepalive_seconds: float = Field(default=75, gt=0)
    prynai_json_response: bool = False
    prynai_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # The conformance fixture (test_* tools and friends). Off unless asked for.
    prynai_conformance: bool = False

    # Authentication (Microsoft Entra ID).
    auth_required: bool = False
    entra_tenant_id: str = ""
    entra_authority: str = "https://login.microsoftonline.com"
    entra_audiences: CsvList = Field(default_factory=list)
    entra_required_scopes: CsvList = Field(default_factory=list)
    entra_required_app_roles: CsvList = Field(default_factory=list)
    entra_accept_v1_tokens: bool = False
    # Public URL of /mcp as clients see it, for RFC 9728 metadata. Empty: derived from host and port.
    prynai_public_url: str = ""
    # Per-tool permissions: "tool=Permission[+Permission]" entries, comma separated; each an app role (or, for a
    # delegated token, a scope) the caller must hold to call that tool. Example: "bump_counter=Mcp.Write".
    prynai_tool_roles: CsvList = Field(default_factory=list)
    # Least seconds between two fetches of the authority's keys (a token naming an unknown kid triggers one).
    prynai_jwks_refetch_seconds: float = Field(default=60.0, gt=0)

    # Telemetry (prynai_mcp.telemetry): off unless one of these asks for an exporter. The standard OpenTelemetry names
    # decide what is exported where; the SDK reads its other OTEL_* variables (headers, timeouts, service name,
    # resource attributes, export intervals) from the process environment itself.
    otel_sdk_disabled: bool = False
    otel_traces_exporter: str = ""  # otlp or none; empty: otlp when an OTLP endpoint is set
    otel_metrics_exporter: str = ""
    otel_exporter_otlp_endpoint: str = ""
    otel_exporter_otlp_traces_endpoint: str = ""
    otel_exporter_otlp_metrics_endpoint: str = ""
    otel_exporter_otlp_protocol: str = ""  # only http/protobuf is shipped
    # Azure Monitor (Application Insights): traces and metrics to this resource as well.
    applicationinsights_connection_string: str = ""

    # TLS for `prynai-mcp serve`.
    ssl_certfile: str = Field(default="", validation_alias=AliasChoices("ssl_certfile", "prynai_ssl_certfile"))
    ssl_keyfile: str = Field(default="", validation_alias=AliasChoices("ssl_keyfile", "prynai_ssl_keyfile"))

    _split = field_validator(
        "cors_allow_origins",
        "prynai_allowed_hosts",
        "prynai_allowed_origins",
        "entra_audiences",
        "entra_required_scopes",
        "entra_required_app_roles",
        "prynai_tool_roles",
        "prynai_request_state_keys",
        "prynai_trusted_proxies",
        mode="before",
    )(_csv)

    @property
    def tls_enabled(self) -> bool:
        return bool(self.ssl_certfile and self.ssl_keyfile)

    @property
    def port(self) -> int:
        if self.prynai_port is not None:
            return self.prynai_port
        return 8443 if self.tls_enabled else 8000
