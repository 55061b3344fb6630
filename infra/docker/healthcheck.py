"""The image's HEALTHCHECK: GET /livez on this container's own port, over https when the server serves TLS.

Standard library only (the image has no curl). Exit status 0: healthy; 1: not. Mirrors how `prynai-mcp serve` picks
its port and scheme (prynai_mcp.config.Settings): TLS when both SSL_CERTFILE and SSL_KEYFILE are set, port
PRYNAI_PORT, else 8443 with TLS and 8000 without.
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request

TIMEOUT_SECONDS = 2.0


def setting(*names: str) -> str:
    """The first of `names` set in the environment, in any letter case (the server reads them case-insensitively)."""
    lowered = {key.lower(): value for key, value in os.environ.items()}
    return next((lowered[name] for name in names if lowered.get(name)), "")


def livez_url() -> tuple[str, ssl.SSLContext | None]:
    tls = bool(setting("ssl_certfile", "prynai_ssl_certfile") and setting("ssl_keyfile", "prynai_ssl_keyfile"))
    port = setting("prynai_port") or ("8443" if tls else "8000")
    if not tls:
        return f"http://127.0.0.1:{port}/livez", None
    # The certificate names the public host, not 127.0.0.1: this checks that the server answers, not who it is.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return f"https://127.0.0.1:{port}/livez", context


def main() -> int:
    url, context = livez_url()
    # No proxy from the environment may stand between the check and the server on the same host.
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(url, timeout=TIMEOUT_SECONDS) as response:
            return 0 if response.status == 200 else 1
    except OSError as error:
        print(f"unhealthy: {url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
