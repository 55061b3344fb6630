"""Run in a fresh interpreter by `test_off.py`: serve real requests with telemetry off, then report what got imported.

    python -m tests.telemetry.off_probe      # prints one JSON object: {"dependencies": [...], "after": [...], ...}

`dependencies` is what two of the server's dependencies load of OpenTelemetry by themselves, at import: the MCP SDK
(the API, for its own span middleware) and redis-py 8 (`opentelemetry.sdk.metrics`, for its optional observability
module, whenever the SDK is installed). `after` is the same after building the whole app, serving both wires and
stopping it; `ours` lists the modules of `prynai_mcp.telemetry` that were loaded.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import mcp.server.mcpserver  # noqa: F401  (what the MCP SDK imports by itself)
import redis.asyncio  # noqa: F401  (and redis-py)

WATCHED = ("opentelemetry", "azure.monitor")


def loaded() -> list[str]:
    return sorted(name for name in sys.modules if name.startswith(WATCHED))


def main() -> None:
    dependencies = loaded()
    import httpx2
    import uvicorn

    from prynai_mcp import telemetry
    from prynai_mcp.app import create_app
    from prynai_mcp.config import Settings
    from tests.support.server import free_port
    from tests.telemetry.wire import LegacySession, modern_request

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(Settings()), host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}/mcp"
    with httpx2.Client(trust_env=False, timeout=30) as http:
        session = LegacySession(http, url)
        session.open("probe-init")
        session.request("probe-add", "tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}})
        session.close()
        modern_request(http, url, "probe-echo", "tools/call", {"name": "echo", "arguments": {"text": "x"}})
    server.should_exit = True
    thread.join(10)
    ours = sorted(name for name in sys.modules if name.startswith("prynai_mcp.telemetry."))
    print(json.dumps({"dependencies": dependencies, "after": loaded(), "ours": ours, "enabled": telemetry.enabled()}))


if __name__ == "__main__":
    main()
