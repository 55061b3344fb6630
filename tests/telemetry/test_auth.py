"""Authentication refusals counted by reason, on a protected server (HTTPS, Entra ID through the local stand-in)."""

from __future__ import annotations

import httpx2
from entra_standin import RunningStandIn

from tests.auth.protected import initialize_body, protected_server
from tests.telemetry.receiver import running_receiver
from tests.telemetry.wire import ACCEPT, LEGACY


def test_refusals_are_counted_by_reason(standin: RunningStandIn) -> None:
    without_role = standin.authority.add_client(roles=[])
    tokens = {
        "missing_token": None,
        "malformed": "not-a-jwt",
        "expired": standin.authority.mint(claims={"exp": 1_000_000, "nbf": 999_000, "iat": 999_000}),
        "missing_app_role": standin.authority.mint(without_role),
    }
    with running_receiver() as receiver, protected_server(standin, **receiver.otlp_env()) as server:
        with httpx2.Client(verify=standin.tls.ssl_context(), trust_env=False, timeout=30) as http:
            for token in tokens.values():
                headers = {"Accept": ACCEPT, "Content-Type": "application/json", "Mcp-Protocol-Version": LEGACY}
                if token is not None:
                    headers["Authorization"] = f"Bearer {token}"
                refused = http.post(server.mcp_url, json=initialize_body(), headers=headers)
                assert refused.status_code in (401, 403), refused.text
        receiver.wait_for(
            "every refusal counted",
            lambda: all(receiver.latest("prynai.mcp.auth.rejections", **{"prynai.auth.reason": r}) for r in tokens),
        )
    for reason, status in (("missing_token", 401), ("malformed", 401), ("expired", 401), ("missing_app_role", 403)):
        point = receiver.latest("prynai.mcp.auth.rejections", **{"prynai.auth.reason": reason})
        assert point is not None and point.value == 1 and point.attributes["http.response.status_code"] == status
