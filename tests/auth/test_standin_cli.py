"""`python -m entra_standin`: the demo stand-in writes a usable env, and a restart keeps rotated keys."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import msal  # type: ignore[import-untyped]  # MSAL ships no type information
import pytest


def read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {name: value.strip("'") for name, value in pairs}


def start(directory: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "entra_standin", "--dir", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("Entra stand-in at https://127.0.0.1:"), first
    return process


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_env_file_works_and_restart_keeps_rotated_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    demo_dir = tmp_path / "standin"
    process = start(demo_dir)
    try:
        env = read_env(demo_dir / "standin.env")
        assert env["AUTH_REQUIRED"] == "true"
        assert env["PRYNAI_MCP_URL"] == "http://127.0.0.1:8000/mcp"
        # Both examples' tokens pass: users need the scope (named in the server's metadata), services the role.
        assert env["ENTRA_REQUIRED_SCOPES"] == env["ENTRA_REQUIRED_APP_ROLES"] == "Mcp.Invoke"
        assert env["ENTRA_PUBLIC_CLIENT_ID"]  # interactive sign-in; the same after the restart below
        for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.setenv(name, env[name])
        app = msal.ConfidentialClientApplication(
            env["ENTRA_CLIENT_ID"],
            client_credential=env["ENTRA_CLIENT_SECRET"],
            authority=f"{env['ENTRA_AUTHORITY']}/{env['ENTRA_TENANT_ID']}",
            instance_discovery=False,
        )
        assert "access_token" in app.acquire_token_for_client(scopes=[f"{env['SERVER_APP_ID_URI']}/.default"])
        with httpx2.Client(verify=True, trust_env=True) as client:  # trusts the CA through SSL_CERT_FILE
            rotated = client.post(f"{env['ENTRA_AUTHORITY']}/_standin/rotate", params={"retire": "1"}).json()
    finally:
        stop(process)

    process = start(demo_dir)  # same directory: same port, tenant, client and (rotated) keys
    try:
        assert read_env(demo_dir / "standin.env") == env
        deadline = time.monotonic() + 5
        with httpx2.Client(verify=True, trust_env=True) as client:
            while True:
                try:
                    stats = client.get(f"{env['ENTRA_AUTHORITY']}/_standin/stats").json()
                    break
                except httpx2.ConnectError:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
        assert stats["keys"] == rotated["keys"] == [rotated["kid"]]
    finally:
        stop(process)
    assert os.stat(demo_dir / "standin.json").st_mode & 0o077 == 0  # private keys and the secret: owner only
