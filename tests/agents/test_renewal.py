"""A long-running agent never starts failing with 401: with tokens that live two seconds and every answer held back
(the recording proxy's delay), one agent run outlives several tokens, and every request still carries one that has
not expired, taken from MSAL as it was sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from entra_standin import ClientApp, RunningStandIn

from tests.agents.conftest import ADAPTERS, ANSWER, SMOKE, TOOL_CALL, TOOLS, calls_by, client_settings, run_example
from tests.agents.proxy import recording_proxy
from tests.support.server import RunningServer

LIFETIME = 2  # seconds a client-credentials token lives (MSAL renews anything with under five minutes left)
# How long each answer is held back: the 2026-07-28 wire makes two requests (tools/list, tools/call), the
# session-based one about ten (two sessions of initialize, initialized, GET stream, the request, DELETE). Either way
# the run lasts well over three lifetimes.
DELAY = {SMOKE: 5.0, ADAPTERS: 1.0}


def test_every_request_carries_a_live_token(
    example: str,
    standin: RunningStandIn,
    protected: RunningServer,
    agent_client: ClientApp,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(standin.authority, "app_token_lifetime", LIFETIME)
    with recording_proxy(protected.url, standin, delay=DELAY[example]) as proxy:
        done = run_example(example, client_settings(standin, agent_client, proxy.mcp_url), tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == [TOOLS, TOOL_CALL, ANSWER]

    sent = proxy.sent()
    first, last = sent[0], sent[-1]
    assert first.token_exp is not None and last.forwarded_at > first.token_exp + LIFETIME  # outlived two tokens
    assert [e.status for e in sent if e.status >= 400] == []  # no 401, nor anything else refused
    # Stricter than the server, which allows a minute of clock skew: no token was past its exp when it left.
    stale = [e for e in sent if e.token_exp is None or e.token_exp <= e.forwarded_at]
    assert stale == []
    assert len({e.token for e in sent}) >= 2  # renewed, not one token reused
    calls = calls_by(protected, agent_client.client_id)
    assert [(c["tool"], c["status"]) for c in calls if c["method"] == "tools/call"] == [("add", "ok")]
