"""`uv run python -m entra_standin [--dir .standin] [--port N]`: run the Entra stand-in for a demo.

State (tenant, app registrations, client secret, signing keys, port) is kept in `--dir`, so a restarted stand-in
is the same authority and servers already configured against it keep working. The directory also gets:

- `standin.env`: every variable a server (AUTH_REQUIRED, ENTRA_*, with the scope and app role required so that both
  examples' tokens pass) and a client (ENTRA_CLIENT_*, ENTRA_PUBLIC_CLIENT_ID, SERVER_APP_ID_URI) need, plus
  SSL_CERT_FILE / REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE pointing at `bundle.pem` (the stand-in's CA plus
  the usual trust store: those variables override explicit CA paths in requests/MSAL, so they are set, not fought);
- `server.pem` / `server-key.pem`: a loopback certificate from the same CA, for `SSL_CERTFILE` / `SSL_KEYFILE`
  if the MCP server should speak HTTPS too.

Rotate keys while it runs: `curl --cacert DIR/ca.pem -X POST 'https://127.0.0.1:PORT/_standin/rotate?retire=1'`.
"""

from __future__ import annotations

import argparse
import json
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from entra_standin.authority import DELEGATED_SCOPES, ClientApp, ResourceApp, SigningKey, StandInAuthority
from entra_standin.delegated import DemoUser, PublicClientApp
from entra_standin.runner import RunningStandIn, serve

DEFAULT_MCP_URL = "http://127.0.0.1:8000/mcp"
# The demo server requires this scope of users and this app role of services: the PRM document then names the
# scope interactive clients ask for, and both examples' tokens pass.
DEMO_PERMISSION = "Mcp.Invoke"


@dataclass
class Demo:
    """What a demo stand-in keeps between runs."""

    authority: StandInAuthority
    port: int = 0
    mcp_url: str = DEFAULT_MCP_URL

    def save(self, path: Path) -> None:
        keys = [
            key.private_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode()
            for key in self.authority.keys
        ]
        state = {
            "port": self.port,
            "mcp_url": self.mcp_url,
            "tenant_id": self.authority.tenant_id,
            "resource": asdict(self.authority.resource),
            "clients": [asdict(client) for client in self.authority.clients.values()],
            "public_clients": [asdict(client) for client in self.authority.public_clients.values()],
            "user": asdict(self.authority.user),
            "keys": keys,
        }
        path.write_text(json.dumps(state, indent=2))
        path.chmod(0o600)  # it holds private keys and a client secret

    @classmethod
    def load(cls, path: Path) -> Demo:
        state: dict[str, Any] = json.loads(path.read_text())
        keys = []
        for pem in state["keys"]:
            private_key = serialization.load_pem_private_key(pem.encode(), password=None)
            if not isinstance(private_key, rsa.RSAPrivateKey):
                raise ValueError(f"{path}: a signing key is not an RSA key")
            keys.append(SigningKey(private_key))
        resource = state["resource"]
        authority = StandInAuthority(
            tenant_id=state["tenant_id"],
            resource=ResourceApp(
                **{
                    **resource,
                    "app_roles": tuple(resource["app_roles"]),
                    "scopes": tuple(resource.get("scopes", DELEGATED_SCOPES)),
                }
            ),
            keys=keys,
        )
        if "user" in state:
            authority.user = DemoUser(**state["user"])
        for client in state["clients"]:
            authority.clients[client["client_id"]] = ClientApp(**{**client, "roles": tuple(client["roles"])})
        for public in state.get("public_clients", []):
            authority.public_clients[public["client_id"]] = PublicClientApp(
                **{
                    **public,
                    "redirect_uris": tuple(public["redirect_uris"]),
                    "permissions": tuple(public["permissions"]),
                }
            )
        return cls(authority, int(state["port"]), str(state.get("mcp_url", DEFAULT_MCP_URL)))


def _env_file(running: RunningStandIn, mcp_url: str) -> str:
    server = running.server_env(ENTRA_REQUIRED_SCOPES=DEMO_PERMISSION, ENTRA_REQUIRED_APP_ROLES=DEMO_PERMISSION)
    env = {**server, **running.client_env(), "PRYNAI_MCP_URL": mcp_url}
    return "".join(f"{name}={shlex.quote(value)}\n" for name, value in env.items())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m entra_standin", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(".standin"), help="state and certificates (default .standin)")
    parser.add_argument("--port", type=int, help="port on 127.0.0.1 (default: the saved one, else any free port)")
    parser.add_argument(
        "--roles", default=DEMO_PERMISSION, help="app roles granted to the demo client (comma separated)"
    )
    parser.add_argument(
        "--mcp-url", help=f"PRYNAI_MCP_URL for clients (default: the saved one, else {DEFAULT_MCP_URL})"
    )
    parser.add_argument("--fresh", action="store_true", help="forget the saved tenant, apps and keys")
    args = parser.parse_args(argv)

    state_path = args.dir / "standin.json"
    if state_path.is_file() and not args.fresh:
        demo = Demo.load(state_path)
    else:
        demo = Demo(StandInAuthority())
        demo.authority.add_client(roles=[r.strip() for r in args.roles.split(",") if r.strip()])
    if not demo.authority.public_clients:  # also for state saved before interactive sign-in existed
        # "Mobile and desktop applications" with http://localhost: any loopback port, as Entra allows.
        demo.authority.add_public_client(redirect_uris=["http://localhost"], permissions=[DEMO_PERMISSION])
    demo.port = args.port if args.port is not None else demo.port
    demo.mcp_url = args.mcp_url or demo.mcp_url

    def ready(running: RunningStandIn) -> None:
        args.dir.mkdir(parents=True, exist_ok=True)
        demo.port = int(running.url.rsplit(":", 1)[1])
        demo.authority.on_change = lambda: demo.save(state_path)  # rotations survive a restart
        demo.save(state_path)
        env_path = args.dir / "standin.env"
        env_path.write_text(_env_file(running, demo.mcp_url))
        print(f"Entra stand-in at {running.url} (tenant {running.tenant_id})", flush=True)
        print(f"  env for server and clients: {env_path}  (e.g. `set -a; . {env_path}; set +a`)")
        print(f"  HTTPS for the MCP server:  SSL_CERTFILE={running.tls.cert} SSL_KEYFILE={running.tls.key}")
        print(f"  rotate keys: curl --cacert {running.tls.ca} -X POST '{running.url}/_standin/rotate?retire=1'")

    serve(demo.authority, port=demo.port, directory=args.dir, on_ready=ready)


if __name__ == "__main__":
    main()
