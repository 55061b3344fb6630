"""infra/azure/deploy_aca.sh against a stand-in `az` on PATH (tests/infra/az_standin.py): the sequence of calls, the
parameters the templates get, no secret on any command line, in any file passed or in the output, a what-if that
changes nothing, and rolling a new image. The script runs from a copy of the repository's infra/ folder, with a stub
Dockerfile, so neither the real .env nor the real Dockerfile is involved."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.checks.bicep import load

REPOSITORY = Path(__file__).resolve().parents[2]
STANDIN = Path(__file__).with_name("az_standin.py")
CLIENT_SECRET = "Zq8~not-a-real-secret-but-unique-3f9c"
TENANT = "11111111-2222-4333-8444-555555555555"
SERVER_APP = "66666666-7777-4888-9999-000000000000"

# What a read-only run may ask of Azure.
READ_ONLY = {"account show", "group show", "deployment group what-if", "deployment group show", "acr list",
             "containerapp show"}  # fmt: skip


@dataclass
class Workspace:
    root: Path  # the copy of the repository (infra/ only)
    cwd: Path  # where the script is run from
    state: Path  # the stand-in's directory
    env: dict[str, str]

    @property
    def script(self) -> Path:
        return self.root / "infra" / "azure" / "deploy_aca.sh"

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(self.script), *args],
            cwd=self.cwd,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def calls(self) -> list[dict[str, Any]]:
        record = self.state / "calls.jsonl"
        return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []

    def commands(self) -> list[str]:
        return [command_of(call["argv"]) for call in self.calls()]

    def parameters(self, deployment: str) -> dict[str, Any]:
        """The parameter values of the (last) `az deployment group create|what-if --name <deployment>` call."""
        for call in reversed(self.calls()):
            argv = call["argv"]
            creates = command_of(argv) in ("deployment group create", "deployment group what-if")
            if creates and argv[argv.index("--name") + 1] == deployment:
                (content,) = [text for path, text in call["files"].items() if path.endswith(".json")]
                return {name: entry["value"] for name, entry in json.loads(content)["parameters"].items()}
        raise AssertionError(f"no deployment {deployment} among {self.commands()}")

    def state_of(self) -> dict[str, Any]:
        path = self.state / "state.json"
        return dict(json.loads(path.read_text())) if path.exists() else {}

    def add_group(self, name: str = "rg-test", location: str = "westeurope") -> None:
        state = self.state_of() or {"groups": {}, "deployments": {}, "images": [], "apps": {}}
        state["groups"][name] = {"name": name, "location": location, "id": f"/rg/{name}"}
        (self.state / "state.json").write_text(json.dumps(state))


def command_of(argv: list[str]) -> str:
    words = [word for word in argv if not word.startswith("-")]
    return " ".join(words[:3]) if words[:2] == ["deployment", "group"] else " ".join(words[:2])


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    root = tmp_path / "repo"
    shutil.copytree(REPOSITORY / "infra" / "azure", root / "infra" / "azure")
    (root / "infra" / "docker").mkdir(parents=True)
    (root / "infra" / "docker" / "Dockerfile").write_text("FROM scratch\n")
    bin_dir, state, cwd = tmp_path / "bin", tmp_path / "az", tmp_path / "work"
    for folder in (bin_dir, state, cwd):
        folder.mkdir()
    az = bin_dir / "az"
    az.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" "$@"\n')
    az.chmod(0o755)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "ENTRA_", "PRYNAI_", "SERVER_"))}
    env = {**clean, "PATH": f"{bin_dir}{os.pathsep}{clean['PATH']}", "AZ_STANDIN_DIR": str(state)}
    (cwd / ".env").write_text(
        "# the user's .env: server and client settings side by side\n"
        f"ENTRA_TENANT_ID={TENANT}\n"
        "ENTRA_CLIENT_ID=aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee\n"
        f'ENTRA_CLIENT_SECRET="{CLIENT_SECRET}"\n'
        f"SERVER_APP_ID={SERVER_APP}\n"
        f"SERVER_APP_ID_URI=api://{SERVER_APP}\r\n"  # written on Windows
        "ENTRA_REQUIRED_APP_ROLES=Mcp.Invoke\n"
    )
    return Workspace(root, cwd, state, env)


def assert_no_secret(workspace: Workspace, done: subprocess.CompletedProcess[str]) -> None:
    for call in workspace.calls():
        assert CLIENT_SECRET not in json.dumps(call), f"the client secret reached az: {call['argv']}"
    assert CLIENT_SECRET not in done.stdout + done.stderr


def test_deploy_from_nothing(workspace: Workspace) -> None:
    done = workspace.run("-g", "rg-test", "-l", "westeurope", "--tag", "abc1234")
    assert done.returncode == 0, done.stderr
    assert [c for c in workspace.commands() if c != "deployment group show"] == [
        "account show",
        "group show",
        "group create",
        "deployment group create",
        "acr build",
        "deployment group create",
    ]
    fqdn = "prynai-mcp.purplegrass-10f29d71.westeurope.azurecontainerapps.io"
    lines = done.stdout.splitlines()
    assert f"ACA FQDN: {fqdn}" in lines
    assert f"MCP URL:  https://{fqdn}/mcp" in lines
    assert_no_secret(workspace, done)

    infra = workspace.parameters("prynai-mcp-infra")
    assert infra["image"] == ""  # the first pass: the registry exists before the image is built in it
    assert infra["tenantId"] == TENANT and infra["serverAppId"] == SERVER_APP
    assert infra["serverAppIdUri"] == f"api://{SERVER_APP}"  # the Windows line ending is gone
    assert infra["requiredAppRoles"] == "Mcp.Invoke"
    assert infra["location"] == "westeurope"
    assert infra["privateNetworking"] is False and infra["minReplicas"] == 2  # JSON types, not strings

    app = workspace.parameters("prynai-mcp-app")
    assert app["image"] == "acrprynaimcpx7k2.azurecr.io/prynai-mcp:abc1234"
    assert app["buildId"] == "abc1234"
    assert {k: v for k, v in app.items() if k not in ("image",)} == {k: v for k, v in infra.items() if k != "image"}

    (build,) = [call["argv"] for call in workspace.calls() if command_of(call["argv"]) == "acr build"]
    assert build[build.index("--image") + 1] == "prynai-mcp:abc1234"
    assert build[build.index("--file") + 1] == "infra/docker/Dockerfile"
    assert build[-1] == str(workspace.root)  # the whole repository is the build context
    assert "--agent-pool" not in build


def test_every_parameter_passed_is_a_parameter_of_main_bicep(workspace: Workspace) -> None:
    assert workspace.run("-g", "rg-test", "--tag", "t").returncode == 0
    declared = set(load(workspace.root / "infra" / "azure" / "main.bicep").parameters)
    passed = workspace.parameters("prynai-mcp-app")
    assert set(passed) <= declared
    assert not [value for value in passed.values() if "${" in str(value)]


def test_a_second_deploy_reuses_the_group(workspace: Workspace) -> None:
    assert workspace.run("-g", "rg-test", "--tag", "one").returncode == 0
    before = len(workspace.calls())
    done = workspace.run("-g", "rg-test", "--tag", "two")
    assert done.returncode == 0, done.stderr
    assert "group create" not in [command_of(call["argv"]) for call in workspace.calls()[before:]]
    assert workspace.state_of()["apps"]["prynai-mcp"]["image"].endswith(":two")


def test_what_if_changes_nothing(workspace: Workspace) -> None:
    assert workspace.run("-g", "rg-test", "--tag", "live").returncode == 0
    state, before = workspace.state_of(), len(workspace.calls())
    done = workspace.run("-g", "rg-test", "--what-if")
    assert done.returncode == 0, done.stderr
    commands = [command_of(call["argv"]) for call in workspace.calls()[before:]]
    assert set(commands) <= READ_ONLY and "deployment group what-if" in commands
    assert workspace.state_of() == state
    assert "what-if: nothing was changed" in done.stdout
    # Compared against the image the app runs now, so only template changes show.
    assert workspace.parameters("prynai-mcp-app")["image"].endswith(":live")
    assert_no_secret(workspace, done)


def test_what_if_on_an_empty_subscription_creates_no_group(workspace: Workspace) -> None:
    done = workspace.run("-g", "rg-new", "--what-if")
    assert done.returncode == 0, done.stderr
    assert set(workspace.commands()) <= READ_ONLY
    assert "would create resource group rg-new" in done.stdout
    assert workspace.state_of().get("groups", {}) == {}


def test_roll_a_new_image(workspace: Workspace) -> None:
    assert workspace.run("-g", "rg-test", "--tag", "v1").returncode == 0
    before = len(workspace.calls())
    done = workspace.run("-g", "rg-test", "--roll", "--tag", "v2")
    assert done.returncode == 0, done.stderr
    commands = [command_of(call["argv"]) for call in workspace.calls()[before:]]
    assert "deployment group create" not in commands
    assert commands.index("acr build") < commands.index("containerapp update")
    update = [call["argv"] for call in workspace.calls()[before:] if command_of(call["argv"]) == "containerapp update"]
    assert update[0][update[0].index("--image") + 1] == "acrprynaimcpx7k2.azurecr.io/prynai-mcp:v2"
    assert "PRYNAI_BUILD=v2" in update[0]
    assert workspace.state_of()["apps"]["prynai-mcp"]["image"].endswith(":v2")
    assert "ACA FQDN: prynai-mcp.purplegrass-10f29d71.eastus.azurecontainerapps.io" in done.stdout.splitlines()


def test_roll_what_if_builds_nothing(workspace: Workspace) -> None:
    assert workspace.run("-g", "rg-test", "--tag", "v1").returncode == 0
    state, before = workspace.state_of(), len(workspace.calls())
    done = workspace.run("-g", "rg-test", "--roll", "--what-if", "--tag", "v2")
    assert done.returncode == 0, done.stderr
    assert {command_of(call["argv"]) for call in workspace.calls()[before:]} <= READ_ONLY
    assert workspace.state_of() == state
    assert "would build acrprynaimcpx7k2.azurecr.io/prynai-mcp:v2" in done.stdout


def test_the_environment_wins_over_the_env_file(workspace: Workspace) -> None:
    done = workspace.run("-g", "rg-test", "--tag", "t", SERVER_APP_ID="99999999-0000-4000-8000-000000000001")
    assert done.returncode == 0, done.stderr
    assert workspace.parameters("prynai-mcp-app")["serverAppId"] == "99999999-0000-4000-8000-000000000001"


def test_private_variant_builds_on_the_agent_pool(workspace: Workspace) -> None:
    done = workspace.run("-g", "rg-test", "--tag", "p", PRYNAI_AZURE_PRIVATE="true", PRYNAI_AZURE_INTERNAL="true")
    assert done.returncode == 0, done.stderr
    (build,) = [call["argv"] for call in workspace.calls() if command_of(call["argv"]) == "acr build"]
    assert build[build.index("--agent-pool") + 1] == "build"
    parameters = workspace.parameters("prynai-mcp-app")
    assert parameters["privateNetworking"] is True and parameters["internalEnvironment"] is True


def test_a_missing_tenant_stops_before_azure(workspace: Workspace) -> None:
    env_file = workspace.cwd / ".env"
    env_file.write_text(re.sub(r"ENTRA_TENANT_ID=.*\n", "", env_file.read_text()))
    done = workspace.run("-g", "rg-test")
    assert done.returncode == 1
    assert "ENTRA_TENANT_ID" in done.stderr
    assert workspace.calls() == []


def test_not_signed_in(workspace: Workspace) -> None:
    (workspace.state / "calls.jsonl").touch()
    bin_dir = Path(workspace.env["PATH"].split(os.pathsep)[0])
    (bin_dir / "az").write_text("#!/bin/sh\necho \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1\n")
    done = workspace.run("-g", "rg-test")
    assert done.returncode == 1
    assert "run az login" in done.stderr


def test_the_powershell_twin_uses_the_same_commands_and_outputs() -> None:
    # PowerShell cannot run here: the twin is kept equivalent by hand, and this keeps the two from drifting.
    bash = (REPOSITORY / "infra" / "azure" / "deploy_aca.sh").read_text()
    powershell = (REPOSITORY / "infra" / "azure" / "deploy_aca.ps1").read_text()

    def az_commands(text: str) -> set[str]:
        return set(
            re.findall(
                r"\b(?:az|Invoke-Az|Invoke-AzQuiet) ((?:deployment group|account|group|acr|containerapp) [a-z-]+)", text
            )
        )

    assert az_commands(bash) == az_commands(powershell)
    for line in ("ACA FQDN: ", "MCP URL:  ", "what-if: nothing was changed", "--agent-pool", "--set-env-vars"):
        assert line in bash and line in powershell, line
    assert "equivalent" in powershell.splitlines()[1].lower() or "twin" in powershell[:400].lower()
