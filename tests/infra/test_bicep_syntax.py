"""Every Bicep file of the infrastructure parses with tree-sitter-bicep with no ERROR or MISSING node (there is no
Bicep compiler here), and a broken file is reported with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.checks.bicep import syntax_problems

INFRA = Path(__file__).resolve().parents[2] / "infra"
TEMPLATES = sorted(INFRA.rglob("*.bicep"))


def test_the_templates_are_found() -> None:
    names = {path.relative_to(INFRA).as_posix() for path in TEMPLATES}
    assert "azure/main.bicep" in names
    assert {"azure/modules/container_app.bicep", "azure/modules/managed_redis.bicep"} <= names


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: path.relative_to(INFRA).as_posix())
def test_template_parses(path: Path) -> None:
    assert syntax_problems(path) == []


def test_a_missing_brace_is_reported_with_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.bicep"
    broken.write_text(
        "param name string = 'x'\n\nresource r 'Microsoft.App/containerApps@2025-01-01' = {\n  name: name\n"
    )
    problems = syntax_problems(broken)
    assert problems, "an unclosed resource body must be reported"
    assert all(problem.path == broken for problem in problems)
    assert {problem.kind for problem in problems} <= {"ERROR", "MISSING"}


def test_stray_text_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "broken.bicep"
    broken.write_text("param name string = 'x'\nthis is not bicep\nvar y = name\n")
    assert [problem.line for problem in syntax_problems(broken)] == [2]


def test_only_a_plain_extension_statement_is_let_through(tmp_path: Path) -> None:
    # tree-sitter-bicep 1.1 has no `extension` statement: that exact line is tolerated, nothing more.
    fine = tmp_path / "fine.bicep"
    fine.write_text("extension microsoftGraphV1\n\nparam name string = 'x'\n")
    assert syntax_problems(fine) == []
    broken = tmp_path / "broken.bicep"
    broken.write_text("extension microsoftGraphV1 with extra words\nparam name string = 'x'\n")
    assert [problem.line for problem in syntax_problems(broken)] == [1]
