"""Run every check of the infrastructure: uv run python -m infra.checks [--no-checkov]

1. every .bicep file under infra/ parses with no syntax problem (tree-sitter-bicep);
2. the project's rules hold for main.bicep in every scenario (defaults, private, Azure Cache, Key Vault, front door);
3. checkov: zero failed checks, zero parsing errors, a reason on every skip.
Exits 1 on any problem, after printing all of them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infra.checks import bicep, checkov, rules

INFRA = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--no-checkov", action="store_true", help="skip checkov (the slowest part, ~15 s)")
    args = parser.parse_args()
    problems: list[str] = []

    files = sorted(INFRA.rglob("*.bicep"))
    for path in files:
        problems += [f"syntax: {problem}" for problem in bicep.syntax_problems(path)]
    print(f"== syntax: {len(files)} Bicep files")

    if not problems:
        findings = rules.check(INFRA / "azure" / "main.bicep")
        problems += [f"rule: {finding}" for finding in findings]
        print(f"== rules: {len(rules.RULES)} rules x {len(rules.SCENARIOS)} scenarios, {len(findings)} findings")

    if not args.no_checkov:
        report = checkov.run(INFRA)
        problems += [f"checkov: {problem}" for problem in report.problems()]
        print(f"== checkov {checkov.CHECKOV}: {report.summary()}")
        for check in report.skipped:
            print(f"   skipped {check}")

    for problem in problems:
        print(problem, file=sys.stderr)
    print("infrastructure checks:", "FAILED" if problems else "ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
