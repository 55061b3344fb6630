"""A stand-in for the Azure CLI (`az`), for the deploy scripts' tests: Azure is not reachable from here.

It answers the commands the deploy scripts use as the real CLI does (JSON by default; `--query` with dotted paths and
`[n]` indexes; `-o tsv`/`none`/`json`; "not found" errors with exit code 3), keeps what it "created" in a state file
(resource groups, deployments and their outputs, the registry's images, the app), and records every call: its
arguments, and the content of every `@file` argument (where parameters files travel). Unknown commands fail loudly.

State and record live in $AZ_STANDIN_DIR (state.json, calls.jsonl). Run as `az` through a wrapper on PATH.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

DIRECTORY = Path(os.environ["AZ_STANDIN_DIR"])
STATE = DIRECTORY / "state.json"
CALLS = DIRECTORY / "calls.jsonl"

SUBSCRIPTION = "00000000-0000-4000-8000-00000000aaaa"
ENVIRONMENT_DOMAIN = "purplegrass-10f29d71.{location}.azurecontainerapps.io"
REGISTRY = "acrprynaimcpx7k2"


class NotFound(Exception):
    pass


def load_state() -> dict[str, Any]:
    if STATE.exists():
        return dict(json.loads(STATE.read_text()))
    return {"groups": {}, "deployments": {}, "images": [], "apps": {}}


def options(argv: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Positional words and --options (an option without a value maps to [])."""
    words: list[str] = []
    found: dict[str, list[str]] = {}
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg.startswith("-"):
            name = {"-g": "--resource-group", "-n": "--name", "-o": "--output", "-l": "--location"}.get(arg, arg)
            values: list[str] = []
            while index + 1 < len(argv) and not argv[index + 1].startswith("-"):
                values.append(argv[index + 1])
                index += 1
                if name not in ("--set-env-vars", "--parameters", "--tags"):
                    break
            found.setdefault(name, []).extend(values)
        else:
            words.append(arg)
        index += 1
    return words, found


def one(found: dict[str, list[str]], name: str) -> str:
    values = found.get(name)
    if not values:
        raise SystemExit(f"az stand-in: {name} is required")
    return values[0]


def query(value: object, expression: str) -> object:
    for index, key in re.findall(r"\[(\d+)\]|([A-Za-z_][A-Za-z0-9_]*)", expression):
        if index:
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
        else:
            value = value.get(key) if isinstance(value, dict) else None
    return value


def emit(value: object, found: dict[str, list[str]]) -> None:
    if "--query" in found:
        value = query(value, one(found, "--query"))
    output = found.get("--output", ["json"])[0]
    if output == "none":
        return
    if output == "tsv":
        if value is not None:
            print(value if not isinstance(value, (dict, list)) else "\t".join(map(str, value)))
        return
    print(json.dumps(value, indent=2))


def parameters_of(found: dict[str, list[str]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for value in found.get("--parameters", []):
        if value.startswith("@"):
            merged.update(json.loads(Path(value[1:]).read_text())["parameters"])
        else:
            name, _, literal = value.partition("=")
            merged[name] = {"value": literal}
    return {name: entry["value"] for name, entry in merged.items()}


def deployment_outputs(group: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    name = parameters.get("name", "prynai-mcp")
    image = parameters.get("image", "")
    fqdn = f"{name}.{ENVIRONMENT_DOMAIN.format(location=group['location'])}" if image else ""
    private = parameters.get("privateNetworking") is True
    values = {
        "registryName": REGISTRY,
        "registryLoginServer": f"{REGISTRY}.azurecr.io",
        "registryAgentPool": "build" if private else "",
        "appName": name,
        "fqdn": fqdn,
        "mcpUrl": f"https://{name}.{ENVIRONMENT_DOMAIN.format(location=group['location'])}/mcp",
        "serverAppId": parameters.get("serverAppId", ""),
    }
    return {key: {"type": "String", "value": value} for key, value in values.items()}


def run(argv: list[str], state: dict[str, Any]) -> None:
    words, found = options(argv)
    command = " ".join(words[:3]) if words[:2] == ["deployment", "group"] else " ".join(words[:2])

    if command == "account show":
        emit({"id": SUBSCRIPTION, "name": "Stand-in subscription", "user": {"name": "dev@example.com"}}, found)
    elif command == "group show":
        group = state["groups"].get(one(found, "--name"))
        if group is None:
            raise NotFound(f"(ResourceGroupNotFound) Resource group '{one(found, '--name')}' could not be found.")
        emit(group, found)
    elif command == "group create":
        name = one(found, "--name")
        state["groups"][name] = {"name": name, "location": one(found, "--location"), "id": f"/rg/{name}"}
        emit(state["groups"][name], found)
    elif command in ("deployment group create", "deployment group what-if"):
        group = state["groups"].get(one(found, "--resource-group"))
        if group is None:
            raise NotFound(f"(ResourceGroupNotFound) Resource group '{one(found, '--resource-group')}' not found.")
        template = Path(one(found, "--template-file"))
        if not template.is_file():
            raise SystemExit(f"az stand-in: no template {template}")
        parameters = parameters_of(found)
        if command.endswith("what-if"):
            print("Note: The result may contain false positive predictions (noise).\n")
            print("Resource and property changes are indicated with this symbol:\n  = Nochange\n")
            print(f"The deployment will update the following scope: {group['id']}\n\nResource changes: 0 to change.")
            return
        outputs = deployment_outputs(group, parameters)
        deployment: dict[str, Any] = {
            "name": one(found, "--name"),
            "properties": {"parameters": parameters, "outputs": outputs},
        }
        state["deployments"][f"{group['name']}/{deployment['name']}"] = deployment
        if parameters.get("image"):
            image = parameters["image"]
            if image.split("/", 1)[-1] not in state["images"]:
                raise SystemExit(f"az stand-in: image {image} was never built: the revision would fail to pull it")
            state["apps"][parameters.get("name", "prynai-mcp")] = {"image": image, "fqdn": outputs["fqdn"]["value"]}
        emit(deployment, found)
    elif command == "deployment group show":
        key = f"{one(found, '--resource-group')}/{one(found, '--name')}"
        if key not in state["deployments"]:
            raise NotFound(f"(DeploymentNotFound) Deployment '{one(found, '--name')}' could not be found.")
        emit(state["deployments"][key], found)
    elif command == "acr build":
        if one(found, "--registry") != REGISTRY:
            raise NotFound(f"(ResourceNotFound) The registry '{one(found, '--registry')}' is not found.")
        context = Path(words[2]) if len(words) > 2 else Path(".")
        if not (context / one(found, "--file")).is_file():
            raise SystemExit(f"az stand-in: no Dockerfile {one(found, '--file')} in {context}")
        state["images"].append(one(found, "--image"))
        print("Queued a build with ID: ca1\nWaiting for an agent...\nStep 1/1 : FROM scratch")
        print("Run ID: ca1 was successful after 42s")
    elif command == "acr list":
        registries = [{"name": REGISTRY, "loginServer": f"{REGISTRY}.azurecr.io"}] if state["deployments"] else []
        emit(registries, found)
    elif command in ("containerapp show", "containerapp update"):
        name = one(found, "--name")
        app = state["apps"].get(name)
        if app is None:
            raise NotFound(f"(ResourceNotFound) The Resource 'Microsoft.App/containerApps/{name}' was not found.")
        if command.endswith("update"):
            image = one(found, "--image")
            if image.split("/", 1)[-1] not in state["images"]:
                raise SystemExit(f"az stand-in: image {image} was never built")
            app["image"] = image
        view = {
            "name": name,
            "properties": {
                "configuration": {"ingress": {"fqdn": app["fqdn"]}},
                "template": {"containers": [{"name": "prynai-mcp", "image": app["image"]}]},
            },
        }
        emit(view, found)
    else:
        print(f"az stand-in: '{' '.join(words)}' is not a command the deploy scripts use", file=sys.stderr)
        raise SystemExit(2)


def main() -> None:
    argv = sys.argv[1:]
    files = {arg[1:]: Path(arg[1:]).read_text() for arg in argv if arg.startswith("@") and Path(arg[1:]).is_file()}
    with CALLS.open("a") as record:
        record.write(json.dumps({"argv": argv, "files": files}) + "\n")
    state = load_state()
    try:
        run(argv, state)
    except NotFound as missing:
        print(f"ERROR: {missing}", file=sys.stderr)
        raise SystemExit(3) from None
    STATE.write_text(json.dumps(state, indent=2))


if __name__ == "__main__":
    main()
