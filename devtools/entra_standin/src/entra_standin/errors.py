"""Errors in Entra's shape: the token endpoint's JSON body, and the authorization endpoint's redirect.

Codes are Entra's own where public sources show which one Entra sends for the case; each call site says so when the
stand-in had to choose. Clients must not depend on the numbers (Entra says so too), but people search for them.
"""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import urlencode

ErrorReply = tuple[int, dict[str, Any]]


def entra_error(status: int, error: str, code: int, message: str) -> ErrorReply:
    """(HTTP status, JSON body) as Entra's token endpoint answers a refused request."""
    trace = str(uuid.uuid4())
    return status, {
        "error": error,
        "error_description": f"AADSTS{code}: {message} Trace ID: {trace}",
        "error_codes": [code],
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
        "trace_id": trace,
        "correlation_id": str(uuid.uuid4()),
    }


def error_redirect(redirect_uri: str, state: str | None, reply: ErrorReply) -> str:
    """Where the authorization endpoint sends the browser when the request fails after the client is trusted.

    Entra redirects such errors to the client (`error`, `error_description`, `error_uri`, `state` in the query);
    only an unknown client or redirect URI gets an error page instead, since the redirect could not be trusted.
    """
    body = reply[1]
    params = {
        "error": body["error"],
        "error_description": body["error_description"],
        "error_uri": f"https://login.microsoftonline.com/error?code={body['error_codes'][0]}",
    }
    if state is not None:
        params["state"] = state
    return with_query(redirect_uri, params)


def with_query(url: str, params: dict[str, str]) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
