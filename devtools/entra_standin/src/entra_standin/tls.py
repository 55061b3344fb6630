"""A throwaway certificate authority (trustme) for the stand-in and for an HTTPS MCP server on loopback.

Trusting it is the fiddly part. `SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE` and `CURL_CA_BUNDLE` may be set machine-wide,
and they override a `verify=` path in some clients (requests, which MSAL uses, prefers the environment variable
over a session's `verify`). So instead of fighting them, point all three at `bundle.pem`: the test CA plus the
trust store those variables named before, so nothing else this process talks to stops verifying. For code that
takes an `ssl.SSLContext`, `ssl_context()` builds one from the CA alone, which no variable can override.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
TRUST_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the test CA certificate
    bundle: Path  # the test CA + the trust store in effect before
    cert: Path  # certificate chain for 127.0.0.1 / localhost / ::1 (the stand-in's, and usable by the MCP server)
    key: Path

    def env(self) -> dict[str, str]:
        """Environment that makes requests/MSAL, httpx(2) and curl trust the test CA."""
        return dict.fromkeys(TRUST_VARIABLES, str(self.bundle))

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def _system_roots() -> str:
    """The PEM bundle in effect before we touch the environment, so the combined bundle loses nothing."""
    candidates = [os.environ.get(name, "") for name in TRUST_VARIABLES]
    candidates.append(ssl.get_default_verify_paths().cafile or "")
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_text()
    return ""


def make_tls_files(directory: Path, names: tuple[str, ...] = LOOPBACK_NAMES) -> TlsFiles:
    """Create (or reuse, so a restarted stand-in stays trusted) a CA and a loopback server certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, ca_key_path = directory / "ca.pem", directory / "ca-key.pem"
    if ca_path.is_file() and ca_key_path.is_file():
        ca = trustme.CA.from_pem(ca_path.read_bytes(), ca_key_path.read_bytes())
    else:
        ca = trustme.CA(organization_name="PrynAI MCP stand-in")
        ca.cert_pem.write_to_path(str(ca_path))
        ca.private_key_pem.write_to_path(str(ca_key_path))
        ca_key_path.chmod(0o600)
    issued = ca.issue_cert(*names)
    files = TlsFiles(
        ca=ca_path, bundle=directory / "bundle.pem", cert=directory / "server.pem", key=directory / "server-key.pem"
    )
    issued.private_key_pem.write_to_path(str(files.key))
    files.key.chmod(0o600)
    files.cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    if not files.bundle.is_file() or ca.cert_pem.bytes().decode() not in files.bundle.read_text():
        files.bundle.write_text(ca.cert_pem.bytes().decode() + "\n" + _system_roots())
    return files
