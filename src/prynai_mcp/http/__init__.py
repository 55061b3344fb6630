"""The HTTP edge: request guards, error bodies, health endpoints and access logs, in front of the MCP transport."""
