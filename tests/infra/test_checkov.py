"""checkov (pinned, isolated, offline) over infra/: Bicep, ARM and the Dockerfile (infra/docker/Dockerfile, once it
exists). Zero failed checks, zero parsing errors, a reason on every skip; and a file checkov cannot parse fails the
run instead of passing silently."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.checks import checkov

INFRA = Path(__file__).resolve().parents[2] / "infra"


@pytest.fixture(scope="module")
def report() -> checkov.Report:
    return checkov.run(INFRA)


def test_checkov_passes(report: checkov.Report) -> None:
    assert report.problems() == [], "\n".join(report.problems())


def test_the_bicep_templates_were_scanned(report: checkov.Report) -> None:
    assert "bicep" in report.frameworks, report.summary()
    assert report.frameworks["bicep"].get("passed", 0) > 0
    assert {"azure/modules/registry.bicep", "azure/modules/azure_cache_redis.bicep"} <= report.files


def test_the_dockerfile_is_scanned_when_present(report: checkov.Report) -> None:
    # The Dockerfile comes with the container work; from the moment it exists it is held to the same bar.
    if not (INFRA / "docker" / "Dockerfile").exists():
        pytest.skip("infra/docker/Dockerfile does not exist yet")
    assert "dockerfile" in report.frameworks, report.summary()
    assert "docker/Dockerfile" in report.files


def test_every_skip_has_a_reason(report: checkov.Report) -> None:
    assert all(check.reason.strip() for check in report.skipped)
    assert all(reason for reason in checkov.SKIPPED_PATHS.values())


def test_a_file_checkov_cannot_parse_fails_the_run(tmp_path: Path) -> None:
    # checkov's Bicep parser gives up on multi-line call arguments, then reports nothing but a count: the registry
    # below (admin user on) would otherwise pass unseen.
    (tmp_path / "azure").mkdir()
    (tmp_path / "azure" / "unreadable.bicep").write_text(
        "var joined = concat(\n  'a',\n  'b'\n)\n"
        "resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {\n"
        "  name: joined\n  location: 'westeurope'\n  sku: {\n    name: 'Basic'\n  }\n"
        "  properties: {\n    adminUserEnabled: true\n  }\n}\n"
    )
    broken = checkov.run(tmp_path)
    assert any(path.endswith("unreadable.bicep") for path in broken.parsing_errors), broken.summary()
    assert any("parsing error" in problem for problem in broken.problems())


def test_a_skip_without_a_reason_is_a_problem() -> None:
    output = {
        "check_type": "bicep",
        "summary": {"passed": 1, "failed": 0, "skipped": 1, "parsing_errors": 0},
        "results": {
            "passed_checks": [],
            "failed_checks": [],
            "skipped_checks": [
                {
                    "check_id": "CKV_AZURE_1",
                    "check_name": "x",
                    "file_path": "/a.bicep",
                    "resource": "r",
                    "check_result": {},
                }
            ],
            "parsing_errors": [],
        },
    }
    assert checkov.parse(output).problems() == ["skip without a reason: CKV_AZURE_1 x: r in /a.bicep"]


def test_ci_fetches_the_pinned_version() -> None:
    # .ci/run reads the pin out of checkov.py with sed: keep the line in the shape it expects.
    source = (INFRA / "checks" / "checkov.py").read_text()
    assert re.search(r'^CHECKOV = "(.*)"$', source, re.M).group(1) == checkov.CHECKOV  # type: ignore[union-attr]
    assert "infra/checks/checkov.py" in (INFRA.parent / ".ci" / "run").read_text()
