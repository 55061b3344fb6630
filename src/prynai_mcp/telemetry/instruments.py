"""Every metric the server exports, named in one place (loaded only when telemetry is on).

The MCP and database names and attributes are the OpenTelemetry semantic conventions' (MCP: development status);
the `prynai.*` ones are ours, for what the conventions do not cover.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Meter, Observation

# The MCP conventions' advice for operation durations.
OPERATION_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300]
# The same, extended: the conventions' advice stops at 5 minutes, but a session lives up to
# PRYNAI_SESSION_IDLE_SECONDS past its last request (30 minutes by default), often hours.
SESSION_BUCKETS = [*OPERATION_BUCKETS, 600, 1800, 3600, 7200, 14400, 28800, 86400]
# The database conventions' advice for client operation durations.
DATABASE_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]


class Instruments:
    def __init__(self, meter: Meter) -> None:
        self.operation_duration = meter.create_histogram(
            "mcp.server.operation.duration",
            unit="s",
            description="MCP request or notification duration as observed on the receiver",
            explicit_bucket_boundaries_advisory=OPERATION_BUCKETS,
        )
        self.session_duration = meter.create_histogram(
            "mcp.server.session.duration",
            unit="s",
            description="The duration of the MCP session as observed on the MCP server (initialize to DELETE)",
            explicit_bucket_boundaries_advisory=SESSION_BUCKETS,
        )
        self.sse_streams = meter.create_up_down_counter(
            "prynai.mcp.sse.active_streams",
            unit="{stream}",
            description="SSE response streams open on this replica (GET streams and POST answers sent as a stream)",
        )
        self.interrupted = meter.create_counter(
            "prynai.mcp.requests.interrupted",
            unit="{request}",
            description="Requests answered -32054: the replica running them died; counted where a client resumed",
        )
        self.auth_rejections = meter.create_counter(
            "prynai.mcp.auth.rejections",
            unit="{request}",
            description="Requests to /mcp refused by authentication or authorization, by reason",
        )
        self.redis_duration = meter.create_histogram(
            "db.client.operation.duration",
            unit="s",
            description="Duration of Redis commands and pipelines (blocking stream reads excluded)",
            explicit_bucket_boundaries_advisory=DATABASE_BUCKETS,
        )
        self.redis_errors = meter.create_counter(
            "prynai.redis.errors",
            unit="{error}",
            description="Redis commands and pipelines that failed, by error type",
        )
        self._meter = meter

    def watch_sessions(self, count: Callable[[], int]) -> None:
        """Report `count()` as the sessions open on this replica, each time metrics are collected."""

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(count())]

        self._meter.create_observable_gauge(
            "prynai.mcp.sessions.active",
            callbacks=[observe],
            unit="{session}",
            description="Session-based sessions with a local copy on this replica (used within "
            "PRYNAI_LOCAL_SESSION_IDLE_SECONDS)",
        )
