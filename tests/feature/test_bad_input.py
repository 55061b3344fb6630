"""Bad input on /mcp gets its documented HTTP status and a JSON-RPC error body; never a 500, a traceback or a hang."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from tests.support.documented import HEADER_MISMATCH, INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR, SESSION_NOT_FOUND
from tests.support.server import RunningServer, running_server

ACCEPT = "application/json, text/event-stream"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


@pytest.fixture(scope="module")
def target() -> Iterator[RunningServer]:
    """This module's own server, so its log holds only what these requests caused."""
    with running_server() as running:
        yield running


@pytest.fixture
def http(target: RunningServer) -> Iterator[httpx2.Client]:
    """A synchronous client for `target`; after the test, the server must have logged no traceback and no 500."""
    since = target.log_size()
    with httpx2.Client(base_url=target.url, trust_env=False, timeout=10.0) as http_client:
        yield http_client
    written = target.log(since)
    assert "Traceback" not in written
    assert not [r for r in target.log_records(since) if r.get("event") == "http" and r.get("status", 0) >= 500]


def post(http: httpx2.Client, body: bytes | str, **headers: str) -> httpx2.Response:
    merged = {"Accept": ACCEPT, "Content-Type": "application/json", **headers}
    content = body.encode() if isinstance(body, str) else body
    return http.post("/mcp", content=content, headers=merged)


def error_of(response: httpx2.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert body["jsonrpc"] == "2.0"
    return dict(body["error"])


def test_malformed_json_is_a_parse_error(http: httpx2.Client) -> None:
    response = post(http, "{not json")
    assert response.status_code == 400
    assert error_of(response)["code"] == PARSE_ERROR


def test_a_json_value_that_is_not_json_rpc_is_refused(http: httpx2.Client) -> None:
    response = post(http, "[1, 2]")
    assert response.status_code == 400
    assert error_of(response)["code"] == INVALID_PARAMS


def test_wrong_content_type(http: httpx2.Client) -> None:
    response = post(http, json.dumps(INITIALIZE), **{"Content-Type": "text/plain"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == INVALID_REQUEST and "Content-Type" in error["message"]


def test_oversized_body_is_413(http: httpx2.Client) -> None:
    response = post(http, b'{"pad":"' + b"a" * (4 * 1024 * 1024 + 1) + b'"}')
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == INVALID_REQUEST and "too large" in error["message"]


def test_unknown_session_is_404(http: httpx2.Client) -> None:
    response = post(
        http,
        '{"jsonrpc":"2.0","id":2,"method":"tools/list"}',
        **{"Mcp-Session-Id": "0" * 32, "Mcp-Protocol-Version": "2025-11-25"},
    )
    assert response.status_code == 404
    assert error_of(response) == {"code": INVALID_REQUEST, "message": SESSION_NOT_FOUND}


def test_malformed_session_id_is_404(http: httpx2.Client) -> None:
    response = post(http, '{"jsonrpc":"2.0","id":2,"method":"tools/list"}', **{"Mcp-Session-Id": "../x y"})
    assert response.status_code == 404
    assert error_of(response) == {"code": INVALID_REQUEST, "message": SESSION_NOT_FOUND}


def test_missing_session_id_is_400(http: httpx2.Client) -> None:
    response = post(http, '{"jsonrpc":"2.0","id":2,"method":"tools/list"}', **{"Mcp-Protocol-Version": "2025-11-25"})
    assert response.status_code == 400
    assert "Missing session ID" in error_of(response)["message"]


def test_get_without_session_is_400(http: httpx2.Client) -> None:
    response = http.get("/mcp", headers={"Accept": "text/event-stream"})
    assert response.status_code == 400
    assert "Missing session ID" in error_of(response)["message"]


def test_unsupported_http_method_is_405(http: httpx2.Client) -> None:
    response = http.put("/mcp", headers={"Accept": ACCEPT})
    assert response.status_code == 405
    assert error_of(response)["code"] == INVALID_REQUEST


def test_foreign_host_is_421(http: httpx2.Client) -> None:
    response = post(http, json.dumps(INITIALIZE), Host="attacker.example")
    assert response.status_code == 421
    assert "attacker.example" in error_of(response)["message"]


def test_foreign_origin_is_403(http: httpx2.Client) -> None:
    response = post(http, json.dumps(INITIALIZE), Origin="http://attacker.example")
    assert response.status_code == 403
    assert "attacker.example" in error_of(response)["message"]


def test_loopback_origin_is_allowed(http: httpx2.Client) -> None:
    response = post(http, json.dumps(INITIALIZE), Origin="http://localhost:6274")
    assert response.status_code == 200


def modern_add(request_id: int) -> dict[str, Any]:
    """A 2026-07-28 `tools/call` of add, with the `_meta` envelope every request of that wire carries."""
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {
            "name": "add",
            "arguments": {"a": 1, "b": 2},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }


def test_modern_header_body_mismatch_is_400(http: httpx2.Client) -> None:
    call = modern_add(7)
    response = post(http, json.dumps(call), **{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == HEADER_MISMATCH and "mcp-method" in error["message"].lower()


def test_modern_name_header_mismatch_is_400(http: httpx2.Client) -> None:
    call = modern_add(8)
    headers = {"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "echo"}
    response = post(http, json.dumps(call), **headers)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == HEADER_MISMATCH and "mcp-name" in error["message"].lower()
    # The same call with the right name is served: the header, not the call, was refused.
    served = post(http, json.dumps(call), **{**headers, "Mcp-Name": "add"})
    assert served.status_code == 200, served.text


def test_modern_request_without_envelope_is_400(http: httpx2.Client) -> None:
    response = post(
        http,
        '{"jsonrpc":"2.0","id":3,"method":"tools/list"}',
        **{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"},
    )
    assert response.status_code == 400
    assert "protocolVersion" in error_of(response)["message"]


DEPTH = 100_000
NESTINGS = {"list": "[" * DEPTH + "]" * DEPTH, "object": '{"a":' * DEPTH + "1" + "}" * DEPTH}
LEGACY = {"Mcp-Protocol-Version": "2025-11-25"}
MODERN = {"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "echo"}


def open_session(http: httpx2.Client) -> str:
    opened = post(http, json.dumps(INITIALIZE), **LEGACY)
    assert opened.status_code == 200, opened.text
    session_id = opened.headers["mcp-session-id"]
    initialized = '{"jsonrpc":"2.0","method":"notifications/initialized"}'
    done = post(http, initialized, **LEGACY, **{"Mcp-Session-Id": session_id})
    assert done.status_code == 202, done.text
    return session_id


@pytest.mark.parametrize("nesting", NESTINGS)
@pytest.mark.parametrize("where", ["initialize", "session", "modern"])
def test_json_nested_100000_deep_is_a_parse_error(http: httpx2.Client, where: str, nesting: str) -> None:
    """Python's parser gives up (RecursionError) long before: that is malformed input, 400 -32700, not a 500."""
    headers = {"session": {**LEGACY, "Mcp-Session-Id": open_session(http)}, "initialize": LEGACY, "modern": MODERN}
    response = post(http, NESTINGS[nesting], **headers[where])
    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == PARSE_ERROR


def test_an_answer_with_an_absurd_request_number_is_accepted_and_dropped(http: httpx2.Client) -> None:
    """An answer naming one of this server's request ids, with a number no replica ever sent (5,000 digits):
    nothing waits for it, so it is dropped like any stale answer; the session goes on."""
    session_id = open_session(http)
    answer = json.dumps({"jsonrpc": "2.0", "id": "pr.someone." + "9" * 5000, "result": {}})
    session = {**LEGACY, "Mcp-Session-Id": session_id}
    assert post(http, answer, **session).status_code == 202
    listed = post(http, '{"jsonrpc":"2.0","id":2,"method":"tools/list"}', **session)
    assert listed.status_code == 200 and '"add"' in listed.text
