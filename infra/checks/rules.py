"""The project's own checks of its Azure templates: what the deployment must guarantee and checkov cannot see
(checkov 3.3 has no check for Container Apps or Azure Managed Redis).

Each rule reads the resources a deployment creates (`bicep.deployed`) and returns findings. `SCENARIOS` are the
parameter sets checked: the defaults, the private variant (external and internal), Azure Cache for Redis, a Key
Vault, the API Management front door. A value the checker cannot know before deployment does not pass a rule that
needs it: it is reported as "cannot verify", so a rule is never satisfied by accident.

Entry: `check(main_path)` (every scenario) or `check_scenario(main_path, parameters, scenario)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.checks.bicep import DeployedResource, Unknown, deployed

# An image makes main.bicep include the app (without one it deploys the infrastructure only: the first pass).
_IMAGE = {"image": "example.azurecr.io/prynai-mcp:check"}

SCENARIOS: dict[str, dict[str, object]] = {
    "default": {**_IMAGE},
    "private": {**_IMAGE, "privateNetworking": True},
    "private-internal": {**_IMAGE, "privateNetworking": True, "internalEnvironment": True},
    "azure-cache": {**_IMAGE, "redisKind": "cache"},
    "azure-cache-private": {**_IMAGE, "redisKind": "cache", "privateNetworking": True},
    "key-vault": {**_IMAGE, "redisKind": "cache", "keyVaultName": "kv-example"},
    "front-door": {**_IMAGE, "frontDoor": "apim", "apimPublisherEmail": "ops@example.com"},
}

APP = "Microsoft.App/containerApps"
ENVIRONMENT = "Microsoft.App/managedEnvironments"
MANAGED_REDIS = "Microsoft.Cache/redisEnterprise"
MANAGED_REDIS_DATABASE = "Microsoft.Cache/redisEnterprise/databases"
MANAGED_REDIS_ACCESS = "Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments"
AZURE_CACHE = "Microsoft.Cache/redis"
REGISTRY = "Microsoft.ContainerRegistry/registries"
PRIVATE_ENDPOINT = "Microsoft.Network/privateEndpoints"
PRIVATE_ZONE = "Microsoft.Network/privateDnsZones"

# What every deployment with an app must contain, whatever its parameters.
REQUIRED_TYPES = (
    "Microsoft.OperationalInsights/workspaces",
    "Microsoft.Insights/components",
    "Microsoft.ManagedIdentity/userAssignedIdentities",
    REGISTRY,
    ENVIRONMENT,
    APP,
)

REQUIRED_SETTINGS = ("ENTRA_TENANT_ID", "ENTRA_AUDIENCES", "PRYNAI_ALLOWED_HOSTS", "PRYNAI_PUBLIC_URL", "REDIS_URL")
ACA_REQUEST_TIMEOUT_SECONDS = 240  # the Container Apps ingress ends any HTTP request after this long
DEFAULT_TERMINATION_GRACE_SECONDS = 30
_SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|(^|_)KEY($|_)|CONNECTION_?STRING|(^|_)SAS($|_)", re.I)

PRIVATE_ZONES = {
    "redisEnterprise": "privatelink.redis.azure.net",
    "redisCache": "privatelink.redis.cache.windows.net",
    "registry": "privatelink.azurecr.io",
}


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    where: str
    scenario: str = ""

    def __str__(self) -> str:
        scenario = f" [{self.scenario}]" if self.scenario else ""
        return f"{self.rule}{scenario}: {self.message} at {self.where}"


def _get(value: object, *path: str) -> object:
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _of(resources: Iterable[DeployedResource], resource_type: str) -> list[DeployedResource]:
    return [r for r in resources if r.type.lower() == resource_type.lower() and not r.existing]


def _env(container: object) -> dict[str, dict[str, Any]]:
    entries = _get(container, "env")
    if not isinstance(entries, list):
        return {}
    return {str(e["name"]): e for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str)}


def _containers(app: DeployedResource) -> list[object]:
    containers = _get(app.body, "properties", "template", "containers")
    return containers if isinstance(containers, list) else []


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


Rule = Callable[[list[DeployedResource], Mapping[str, object]], list[Finding]]


def rule_inventory(resources: list[DeployedResource], parameters: Mapping[str, object]) -> list[Finding]:
    """The deployment contains the app and what it stands on (a rule over an absent app would pass vacuously)."""
    present = {r.type.lower() for r in resources if not r.existing}
    findings = [
        Finding("inventory", f"the deployment creates no {t}", "main.bicep")
        for t in REQUIRED_TYPES
        if t.lower() not in present
    ]
    redis = MANAGED_REDIS if parameters.get("redisKind", "managed") == "managed" else AZURE_CACHE
    if redis.lower() not in present:
        findings.append(Finding("inventory", f"the deployment creates no {redis}", "main.bicep"))
    return findings


def rule_ingress(resources: list[DeployedResource], parameters: Mapping[str, object]) -> list[Finding]:
    """HTTPS only (allowInsecure false), to port 8000, one revision, no sticky sessions."""
    findings = []
    for app in _of(resources, APP):
        configuration = _get(app.body, "properties", "configuration")
        ingress = _get(configuration, "ingress")
        if _get(ingress, "allowInsecure") is not False:
            findings.append(Finding("ingress", "ingress.allowInsecure must be false (HTTPS only)", app.where))
        if _get(ingress, "targetPort") != 8000:
            findings.append(Finding("ingress", "ingress.targetPort must be 8000, the server's port", app.where))
        if _get(ingress, "transport") == "tcp":
            findings.append(Finding("ingress", "ingress.transport must be HTTP, not tcp", app.where))
        affinity = _get(ingress, "stickySessions", "affinity")
        if affinity not in (None, "none"):
            findings.append(Finding("ingress", "sticky sessions must be off: sessions roam through Redis", app.where))
        if _get(configuration, "activeRevisionsMode") != "Single":
            findings.append(Finding("ingress", "activeRevisionsMode must be Single", app.where))
    return findings


def rule_probes(resources: list[DeployedResource], parameters: Mapping[str, object]) -> list[Finding]:
    """Startup and liveness probes on /livez, readiness on /readyz, on the ingress's port."""
    expected = {"Startup": "/livez", "Liveness": "/livez", "Readiness": "/readyz"}
    findings = []
    for app in _of(resources, APP):
        port = _get(app.body, "properties", "configuration", "ingress", "targetPort")
        for container in _containers(app):
            probes = _get(container, "probes")
            by_type = {str(_get(p, "type")): p for p in probes} if isinstance(probes, list) else {}
            for kind, path in expected.items():
                probe = by_type.get(kind)
                if probe is None:
                    findings.append(Finding("probes", f"no {kind} probe", app.where))
                elif _get(probe, "httpGet", "path") != path:
                    findings.append(Finding("probes", f"the {kind} probe must GET {path}", app.where))
                elif _get(probe, "httpGet", "port") != port:
                    findings.append(Finding("probes", f"the {kind} probe must use the ingress port {port}", app.where))
    return findings


def rule_secrets(resources: list[DeployedResource], parameters: Mapping[str, object]) -> list[Finding]:
    """Secrets by reference only: env entries that hold a credential use secretRef, app secrets are Key Vault
    references or values computed in the deployment (listKeys, a resource property), never a literal."""
    findings = []
    for app in _of(resources, APP):
        secrets = _get(app.body, "properties", "configuration", "secrets")
        if secrets is not None and not isinstance(secrets, list):
            findings.append(Finding("secrets", "cannot verify the app's secrets (not a known list)", app.where))
            secrets = []
        names = set()
        for secret in secrets or []:
            name = _get(secret, "name")
            names.add(name)
            if _get(secret, "keyVaultUrl") is not None:
                if _get(secret, "identity") is None:
                    findings.append(Finding("secrets", f"Key Vault secret {name} names no identity", app.where))
            elif not isinstance(_get(secret, "value"), Unknown):
                findings.append(Finding("secrets", f"secret {name} is a plain value in the template", app.where))
        for container in _containers(app):
            for name, entry in _env(container).items():
                if "secretRef" in entry:
                    if entry["secretRef"] not in names:
                        findings.append(Finding("secrets", f"{name} refers to an undeclared secret", app.where))
                    continue
                value = entry.get("value")
                if _SECRET_NAME.search(name):
                    findings.append(Finding("secrets", f"{name} holds a credential: use secretRef", app.where))
                elif isinstance(value, Unknown) and value.secret:
                    findings.append(Finding("secrets", f"{name} is set from a credential: use secretRef", app.where))
                elif name == "REDIS_URL" and "@" in (value.text if isinstance(value, Unknown) else str(value)):
                    findings.append(Finding("secrets", "REDIS_URL carries a password: use secretRef", app.where))
    return findings


def rule_scale(resources: list[DeployedResource], parameters: Mapping[str, object]) -> list[Finding]:
    """At least two replicas, and both an HTTP concurrent-requests rule and a CPU utilization rule."""
    findings = []
    for app in _of(resources, APP):
        scale = _get(app.body, "properties", "template", "scale")
        low, high = _int(_get(scale, "minReplicas")), _int(_get(scale, "maxReplicas"))
        if low is None or low < 2:
            findings.append(Finding("scale", f"minReplicas must be at least 2 (is {low})", app.where))
        if high is None or (low is not None and high < low):
            findings.append(Finding("scale", f"maxReplicas must be known and >= minReplicas (is {high})", app.where))
        rules = _get(scale, "rules")
        rules = rules if isinstance(rules, list) else []
        if not any(_int(_get(r, "http", "metadata", "concurrentRequests")) for r in rules):
            findings.append(Finding("scale", "no HTTP scale rule with concurrentRequests", app.where))
        cpu = [r for r in rules if _get(r, "custom", "type") == "cpu"]
        if not any(_get(r, "custom", "metadata", "type") == "Utilization" for r in cpu) or not all(
            _int(_get(r, "custom", "metadata", "value")) for r in cpu
        ):
            findings.append(Finding("scale", "no CPU scale rule (custom type cpu, Utilization, a value)", app.where))
    return findings


def rule_lifetimes(resources: list[DeployedResource], parameters: Mapping[str, object]) -> list[Finding]:
    """The drain ends before SIGKILL, and SSE streams end before the ingress's 240 s cut."""
    findings = []
    for app in _of(resources, APP):
        template = _get(app.body, "properties", "template")
        termination = _get(template, "terminationGracePeriodSeconds")
        termination_seconds = DEFAULT_TERMINATION_GRACE_SECONDS if termination is None else _int(termination)
        for container in _containers(app):
            env = _env(container)
            grace = _int(_get(env.get("PRYNAI_SHUTDOWN_GRACE_SECONDS"), "value"))
            if grace is None or termination_seconds is None or grace >= termination_seconds:
                findings.append(
                    Finding(
                        "lifetimes",
                        f"PRYNAI_SHUTDOWN_GRACE_SECONDS ({grace}) must be below terminationGracePeriodSeconds "
                        f"({termination_seconds})",
                        app.where,
                    )
                )
            stream = _int(_get(env.get("PRYNAI_SSE_MAX_STREAM_SECONDS"), "value"))
            if stream is None or not 0 < stream < ACA_REQUEST_TIMEOUT_SECONDS:
                findings.append(
                    Finding(
                        "lifetimes",
                        f"PRYNAI_SSE_MAX_STREAM_SECONDS ({stream}) must be below the ingress's "
                        f"{ACA_REQUEST_TIMEOUT_SECONDS} s request timeout",
                        app.where,
                    )
                )
    return findings


def rule_server_settings(resources: list[DeployedResource], parameters: Mapping[str, object]) -> list[Finding]:
    """Authentication on, Entra settings present, allowed hosts and the public https URL set, the managed identity
    named for Managed Redis."""
    findings = []
    for app in _of(resources, APP):
        for container in _containers(app):
            env = _env(container)
            for name in REQUIRED_SETTINGS:
                if name not in env:
                    findings.append(Finding("settings", f"{name} is not set", app.where))
            if _get(env.get("AUTH_REQUIRED"), "value") != "true":
                findings.append(Finding("settings", "AUTH_REQUIRED must be 'true'", app.where))
            hosts = _get(env.get("PRYNAI_ALLOWED_HOSTS"), "value")
            if isinstance(hosts, str) and "*" in hosts.split(","):
                findings.append(Finding("settings", "PRYNAI_ALLOWED_HOSTS must name the app, not *", app.where))
            url = _get(env.get("PRYNAI_PUBLIC_URL"), "value")
            text = url.text if isinstance(url, Unknown) else str(url)
            if not text.startswith("https://") or not text.endswith("/mcp"):
                findings.append(Finding("settings", "PRYNAI_PUBLIC_URL must be https://<host>/mcp", app.where))
    return findings


def rule_identity(resources: list[DeployedResource], parameters: Mapping[str, object]) -> list[Finding]:
    """The app runs as a user-assigned identity and pulls with it; the registry's admin user is off."""
    findings = []
    for app in _of(resources, APP):
        if "UserAssigned" not in str(_get(app.body, "identity", "type")):
            findings.append(Finding("identity", "the app must run as a user-assigned identity", app.where))
        registries = _get(app.body, "properties", "configuration", "registries")
        for registry in registries if isinstance(registries, list) else []:
            if _get(registry, "identity") is None or _get(registry, "passwordSecretRef") is not None:
                findings.append(Finding("identity", "pull the image with the identity, not a password", app.where))
    for registry in _of(resources, REGISTRY):
        if _get(registry.body, "properties", "adminUserEnabled") is not False:
            findings.append(Finding("identity", "the registry's admin user must be off", registry.where))
    return findings


def rule_redis(resources: list[DeployedResource], parameters: Mapping[str, object]) -> list[Finding]:
    """Managed Redis: TLS, keys disabled, an access policy for the app's identity, and the server told to use it.
    Azure Cache for Redis: TLS only (no non-TLS port), TLS 1.2."""
    findings = []
    for cluster in _of(resources, MANAGED_REDIS):
        if _get(cluster.body, "properties", "minimumTlsVersion") != "1.2":
            findings.append(Finding("redis", "minimumTlsVersion must be 1.2", cluster.where))
    databases = _of(resources, MANAGED_REDIS_DATABASE)
    for database in databases:
        properties = _get(database.body, "properties")
        if _get(properties, "clientProtocol") != "Encrypted":
            findings.append(Finding("redis", "clientProtocol must be Encrypted (TLS)", database.where))
        if _get(properties, "accessKeysAuthentication") != "Disabled":
            findings.append(Finding("redis", "accessKeysAuthentication must be Disabled", database.where))
    if databases:
        assignments = _of(resources, MANAGED_REDIS_ACCESS)
        if not any(_get(a.body, "properties", "user", "objectId") is not None for a in assignments):
            findings.append(Finding("redis", "no access-policy assignment for the app's identity", databases[0].where))
        for app in _of(resources, APP):
            for container in _containers(app):
                env = _env(container)
                if _get(env.get("PRYNAI_REDIS_AUTH"), "value") != "entra" or "AZURE_CLIENT_ID" not in env:
                    findings.append(
                        Finding("redis", "Managed Redis needs PRYNAI_REDIS_AUTH=entra and AZURE_CLIENT_ID", app.where)
                    )
                url = _get(env.get("REDIS_URL"), "value")
                text = url.text if isinstance(url, Unknown) else str(url)
                if not text.startswith("rediss://") or ":10000" not in text:
                    findings.append(Finding("redis", "REDIS_URL must be rediss://<host>:10000", app.where))
    for cache in _of(resources, AZURE_CACHE):
        properties = _get(cache.body, "properties")
        if _get(properties, "enableNonSslPort") is not False:
            findings.append(Finding("redis", "enableNonSslPort must be false", cache.where))
        if _get(properties, "minimumTlsVersion") != "1.2":
            findings.append(Finding("redis", "minimumTlsVersion must be 1.2", cache.where))
    return findings


def rule_logs(resources: list[DeployedResource], parameters: Mapping[str, object]) -> list[Finding]:
    """The environment sends the apps' console logs to Log Analytics."""
    return [
        Finding("logs", "appLogsConfiguration must send logs to log-analytics", environment.where)
        for environment in _of(resources, ENVIRONMENT)
        if _get(environment.body, "properties", "appLogsConfiguration", "destination") != "log-analytics"
    ]


def rule_private(resources: list[DeployedResource], parameters: Mapping[str, object]) -> list[Finding]:
    """Private variant: public network access off on Redis and the registry, each behind a private endpoint
    registered in its private DNS zone, and the environment in the network."""
    if parameters.get("privateNetworking") is not True:
        return []
    findings = []
    endpoints = _of(resources, PRIVATE_ENDPOINT)
    groups = {
        str(group)
        for endpoint in endpoints
        for connection in (_get(endpoint.body, "properties", "privateLinkServiceConnections") or [])  # type: ignore[attr-defined]
        for group in (_get(connection, "properties", "groupIds") or [])  # type: ignore[attr-defined]
    }
    zones = {str(_get(zone.body, "name")) for zone in _of(resources, PRIVATE_ZONE)}
    services = [(MANAGED_REDIS, "redisEnterprise"), (AZURE_CACHE, "redisCache"), (REGISTRY, "registry")]
    for resource_type, group in services:
        for service in _of(resources, resource_type):
            if _get(service.body, "properties", "publicNetworkAccess") != "Disabled":
                findings.append(Finding("private", "publicNetworkAccess must be Disabled", service.where))
            if group not in groups:
                findings.append(Finding("private", f"no private endpoint for group {group}", service.where))
            if PRIVATE_ZONES[group] not in zones:
                findings.append(Finding("private", f"no private DNS zone {PRIVATE_ZONES[group]}", service.where))
    for environment in _of(resources, ENVIRONMENT):
        if _get(environment.body, "properties", "vnetConfiguration", "infrastructureSubnetId") in (None, ""):
            findings.append(Finding("private", "the environment must sit in the network's subnet", environment.where))
        internal = _get(environment.body, "properties", "vnetConfiguration", "internal")
        if internal is not bool(parameters.get("internalEnvironment", False)):
            findings.append(Finding("private", "internal must follow internalEnvironment", environment.where))
    return findings


RULES: tuple[Rule, ...] = (
    rule_inventory,
    rule_ingress,
    rule_probes,
    rule_secrets,
    rule_scale,
    rule_lifetimes,
    rule_server_settings,
    rule_identity,
    rule_redis,
    rule_logs,
    rule_private,
)


def check_scenario(main: Path, parameters: Mapping[str, object], scenario: str = "") -> list[Finding]:
    resources = deployed(main, parameters)
    return [Finding(f.rule, f.message, f.where, scenario) for rule in RULES for f in rule(resources, parameters)]


def check(main: Path, scenarios: Mapping[str, Mapping[str, object]] = SCENARIOS) -> list[Finding]:
    """Every rule over every scenario of `main` (main.bicep, or any template with the same parameters)."""
    return [finding for name, parameters in scenarios.items() for finding in check_scenario(main, parameters, name)]
