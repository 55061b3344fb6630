"""checkov over the infrastructure (Bicep, ARM, the Dockerfile), pinned and isolated, judged strictly.

checkov is run with `uvx` at a pinned version, not installed into the project (it pins many packages of its own),
offline (`--skip-download`). A run passes only with zero failed checks, zero parsing errors (checkov skips a Bicep
file it cannot parse and merely counts it; here that fails the run), and a reason on every skip. Skips live in the
templates, next to the resource, as `// checkov:skip=<id>: <reason>`. checkov 3.3 reads no property of a Bicep resource
declared with `if (...)` (its value checks then fail, its absence checks pass): the templates use loops or module
conditions where checkov's checks matter, and the project's rules, which evaluate conditions, cover the rest.

Entry: `run(root)` -> `Report`; `Report.problems()` is empty when the run passes.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[2]

# The version every machine runs; .ci/run fetches it ahead of the tests.
CHECKOV = "checkov==3.3.30"
FRAMEWORKS = ("bicep", "arm", "dockerfile")

# Paths (regular expressions, relative to the scanned root) checkov does not read, each with its reason.
SKIPPED_PATHS = {
    r"azure/modules/entra_apps\.bicep$": (
        "checkov's Bicep parser predates the `extension` statement that loads the Microsoft Graph types; the file "
        "holds only Microsoft Graph resources, for which checkov has no checks; its syntax is checked by the "
        "project's own parse check"
    ),
}


@dataclass(frozen=True)
class Check:
    check_id: str
    name: str
    file: str
    resource: str
    reason: str = ""

    def __str__(self) -> str:
        reason = f" ({self.reason.strip()})" if self.reason else ""
        return f"{self.check_id} {self.name}: {self.resource} in {self.file}{reason}"


@dataclass
class Report:
    frameworks: dict[str, dict[str, Any]] = field(default_factory=dict)  # framework -> checkov's summary
    failed: list[Check] = field(default_factory=list)
    skipped: list[Check] = field(default_factory=list)
    parsing_errors: list[str] = field(default_factory=list)
    files: set[str] = field(default_factory=set)  # every file a check ran on, relative to the root
    error: str = ""

    def problems(self) -> list[str]:
        found = [f"checkov could not run: {self.error}"] if self.error else []
        found += [f"failed: {check}" for check in self.failed]
        found += [f"parsing error (the file was not checked): {path}" for path in self.parsing_errors]
        found += [f"skip without a reason: {check}" for check in self.skipped if not check.reason.strip()]
        return found

    def summary(self) -> str:
        parts = []
        for framework, counts in sorted(self.frameworks.items()):
            parts.append(
                f"{framework}: {counts.get('passed', 0)} passed, {counts.get('failed', 0)} failed, "
                f"{counts.get('skipped', 0)} skipped, {counts.get('parsing_errors', 0)} parsing errors"
            )
        return "; ".join(parts) or "no framework reported"


def command(root: Path) -> list[str]:
    arguments = ["uv", "tool", "run", "--quiet", "--from", CHECKOV, "checkov", "--directory", str(root)]
    arguments += ["--skip-download"]
    arguments += ["--output", "json", "--framework", *FRAMEWORKS]
    for pattern in SKIPPED_PATHS:
        arguments += ["--skip-path", pattern]
    return arguments


def run(root: Path, timeout: float = 600) -> Report:
    """checkov over `root` (the infra/ folder: Bicep under azure/, the Dockerfile under docker/ when present)."""
    # From the repository, so uv (and a pyenv shim in front of it) picks the project's Python for the tool.
    done = subprocess.run(command(root), capture_output=True, text=True, timeout=timeout, check=False, cwd=REPOSITORY)
    try:
        output = json.loads(done.stdout)
    except json.JSONDecodeError:
        return Report(error=f"exit {done.returncode}, no JSON report: {done.stderr.strip()[-2000:]}")
    return parse(output)


def parse(output: object) -> Report:
    """checkov's JSON report: a list of per-framework reports, or one report when only one framework had files."""
    report = Report()
    reports = output if isinstance(output, list) else [output]
    for framework_report in reports:
        if not isinstance(framework_report, dict) or "check_type" not in framework_report:
            continue  # the summary-only answer checkov gives when nothing at all was found
        report.frameworks[str(framework_report["check_type"])] = dict(framework_report.get("summary", {}))
        results = framework_report.get("results", {})
        for kind, bucket in (("failed_checks", report.failed), ("skipped_checks", report.skipped)):
            for item in results.get(kind, []):
                bucket.append(
                    Check(
                        check_id=str(item.get("check_id")),
                        name=str(item.get("check_name")),
                        file=str(item.get("file_path")),
                        resource=str(item.get("resource")),
                        reason=str((item.get("check_result") or {}).get("suppress_comment") or ""),
                    )
                )
        for kind in ("passed_checks", "failed_checks", "skipped_checks"):
            report.files.update(str(item.get("file_path", "")).lstrip("/") for item in results.get(kind, []))
        report.parsing_errors += [str(path) for path in results.get("parsing_errors", [])]
    return report
