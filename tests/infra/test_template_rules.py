"""The project's own template checks (infra/checks/rules.py): the real templates pass in every scenario, and each
rule catches the mistake it exists for, made in a copy of the real templates."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.checks import bicep, rules

AZURE = Path(__file__).resolve().parents[2] / "infra" / "azure"


@pytest.mark.parametrize("scenario", sorted(rules.SCENARIOS))
def test_the_templates_pass(scenario: str) -> None:
    findings = rules.check_scenario(AZURE / "main.bicep", rules.SCENARIOS[scenario], scenario)
    assert findings == [], "\n".join(map(str, findings))


def test_without_an_image_only_the_infrastructure_is_deployed() -> None:
    # The deploy scripts' first pass: the registry must exist before the image is built in it.
    types = {resource.type for resource in bicep.deployed(AZURE / "main.bicep", {})}
    assert rules.REGISTRY in types and rules.MANAGED_REDIS in types
    assert rules.APP not in types


@dataclass(frozen=True)
class Mistake:
    rule: str
    file: str  # relative to infra/azure
    old: str
    new: str
    scenario: str = "default"


MISTAKES = {
    "plain HTTP allowed": Mistake(
        "ingress", "modules/container_app.bicep", "allowInsecure: false", "allowInsecure: true"
    ),
    "sticky sessions": Mistake("ingress", "modules/container_app.bicep", "affinity: 'none'", "affinity: 'sticky'"),
    "multiple revisions": Mistake(
        "ingress", "modules/container_app.bicep", "activeRevisionsMode: 'Single'", "activeRevisionsMode: 'Multiple'"
    ),
    "readiness on the liveness path": Mistake(
        "probes", "modules/container_app.bicep", "path: '/readyz'", "path: '/livez'"
    ),
    "no startup probe": Mistake("probes", "modules/container_app.bicep", "type: 'Startup'", "type: 'Unused'"),
    "a literal secret": Mistake(
        "secrets",
        "modules/container_app.bicep",
        "value: insightsConnectionString }",
        "value: 'InstrumentationKey=00000000-0000-0000-0000-000000000000' }",
    ),
    "a credential in a plain env value": Mistake(
        "secrets",
        "modules/container_app.bicep",
        "secretRef: 'appinsights-connection-string'",
        "value: insightsConnectionString",
    ),
    "the cache key in REDIS_URL as a plain value": Mistake(
        "secrets", "modules/container_app.bicep", "secretRef: 'redis-url'", "value: cacheRedisUrl", "azure-cache"
    ),
    "one replica": Mistake(
        "scale", "main.bicep", "@minValue(2)\nparam minReplicas int = 2", "param minReplicas int = 1"
    ),
    "no CPU rule": Mistake("scale", "modules/container_app.bicep", "type: 'cpu'", "type: 'memory'"),
    "no HTTP rule": Mistake(
        "scale", "modules/container_app.bicep", "concurrentRequests: string(concurrentRequests)", "requests: '50'"
    ),
    "drain longer than the kill timeout": Mistake(
        "lifetimes",
        "modules/container_app.bicep",
        "terminationGracePeriodSeconds - 5",
        "terminationGracePeriodSeconds + 5",
    ),
    "streams held past the ingress timeout": Mistake(
        "lifetimes",
        "main.bicep",
        "@maxValue(230)\nparam sseMaxStreamSeconds int = 200",
        "param sseMaxStreamSeconds int = 300",
    ),
    "authentication off": Mistake(
        "settings",
        "modules/container_app.bicep",
        "name: 'AUTH_REQUIRED'\n    value: 'true'",
        "name: 'AUTH_REQUIRED'\n    value: 'false'",
    ),
    "any host allowed": Mistake(
        "settings", "main.bicep", "var allowedHosts = empty(", "var allowedHosts = '*'\nvar unused = empty("
    ),
    "registry admin user on": Mistake(
        "identity", "modules/registry.bicep", "adminUserEnabled: false", "adminUserEnabled: true"
    ),
    "pulling with a password": Mistake(
        "identity",
        "modules/container_app.bicep",
        "identity: identityId\n        }\n      ]",
        "passwordSecretRef: 'acr'\n        }\n      ]",
    ),
    "Redis without TLS": Mistake(
        "redis", "modules/managed_redis.bicep", "clientProtocol: 'Encrypted'", "clientProtocol: 'Plaintext'"
    ),
    "Redis TLS 1.0": Mistake(
        "redis", "modules/managed_redis.bicep", "minimumTlsVersion: '1.2'", "minimumTlsVersion: '1.0'"
    ),
    "Redis access keys on": Mistake(
        "redis",
        "modules/managed_redis.bicep",
        "accessKeysAuthentication: 'Disabled'",
        "accessKeysAuthentication: 'Enabled'",
    ),
    "no access policy for the identity": Mistake(
        "redis",
        "modules/managed_redis.bicep",
        "accessPolicyAssignments@2025-07-01' = {",
        "accessPolicyAssignments@2025-07-01' = if (false) {",
    ),
    "the server not told to use Entra ID": Mistake(
        "redis", "modules/container_app.bicep", "value: 'entra'", "value: 'password'"
    ),
    "Azure Cache non-TLS port": Mistake(
        "redis", "modules/azure_cache_redis.bicep", "enableNonSslPort: false", "enableNonSslPort: true", "azure-cache"
    ),
    "logs not sent to the workspace": Mistake(
        "logs", "modules/environment.bicep", "destination: 'log-analytics'", "destination: 'azure-monitor'"
    ),
    "private registry still public": Mistake(
        "private",
        "modules/registry.bicep",
        "publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'",
        "publicNetworkAccess: 'Enabled'",
        "private",
    ),
    "private Redis still public": Mistake(
        "private",
        "modules/managed_redis.bicep",
        "publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'",
        "publicNetworkAccess: 'Enabled'",
        "private",
    ),
    "private cache still public": Mistake(
        "private",
        "modules/azure_cache_redis.bicep",
        "publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'",
        "publicNetworkAccess: 'Enabled'",
        "azure-cache-private",
    ),
    "wrong private DNS zone": Mistake(
        "private",
        "modules/network.bicep",
        "'privatelink.redis.azure.net'",
        "'privatelink.redis.cache.windows.net'",
        "private",
    ),
    "no private endpoint for Redis": Mistake(
        "private",
        "modules/managed_redis.bicep",
        "module endpoint 'private_endpoint.bicep' = if (privateNetworking) {",
        "module endpoint 'private_endpoint.bicep' = if (false) {",
        "private",
    ),
    "environment outside the network": Mistake(
        "private",
        "modules/environment.bicep",
        "infrastructureSubnetId: subnetId",
        "infrastructureSubnetId: ''",
        "private",
    ),
    "the app left out": Mistake("inventory", "main.bicep", "= if (deployApp) {", "= if (false) {"),
}


@pytest.mark.parametrize("mistake", MISTAKES.values(), ids=MISTAKES.keys())
def test_rule_catches_the_mistake(mistake: Mistake, tmp_path: Path) -> None:
    copy = tmp_path / "azure"
    shutil.copytree(AZURE, copy)
    target = copy / mistake.file
    text = target.read_text()
    assert text.count(mistake.old) == 1, f"the mistake's anchor must appear once in {mistake.file}"
    target.write_text(text.replace(mistake.old, mistake.new))
    findings = rules.check_scenario(copy / "main.bicep", rules.SCENARIOS[mistake.scenario], mistake.scenario)
    assert mistake.rule in {finding.rule for finding in findings}, "\n".join(map(str, findings)) or "no finding"


def test_a_standalone_template_is_checked_too(tmp_path: Path) -> None:
    # Not only main.bicep: any file (here a bare app with no probes and one replica) is read the same way.
    app = tmp_path / "app.bicep"
    app.write_text(
        "resource app 'Microsoft.App/containerApps@2025-01-01' = {\n"
        "  name: 'x'\n"
        "  properties: {\n"
        "    configuration: {\n"
        "      activeRevisionsMode: 'Single'\n"
        "      ingress: {\n"
        "        targetPort: 8000\n"
        "        allowInsecure: false\n"
        "      }\n"
        "    }\n"
        "    template: {\n"
        "      containers: [\n"
        "        {\n"
        "          name: 'x'\n"
        "          image: 'x'\n"
        "        }\n"
        "      ]\n"
        "      scale: {\n"
        "        minReplicas: 1\n"
        "      }\n"
        "    }\n"
        "  }\n"
        "}\n"
    )
    found = {finding.rule for finding in rules.check_scenario(app, {})}
    assert {"probes", "scale", "lifetimes", "settings", "inventory"} <= found
    assert "ingress" not in found
