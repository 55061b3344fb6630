"""Session-based (legacy wire) MCP sessions that roam: any replica serves any session, nothing lives in one process.

- `registry`: what a session is (negotiated version, client capabilities and info, owner), with an idle TTL;
- `events`: every message a session's streams carry, in a per-session, per-stream log that serves Last-Event-ID;
- `manager`: the HTTP side, which restores a session on whichever replica a request lands and serves GET streams
  from the event log;
- `recorder`: the server middleware that writes the registry record when `initialize` succeeds.

Each store has an in-memory implementation (one process) and a Redis one (many replicas) with the same semantics.
"""
