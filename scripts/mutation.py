"""Mutation testing of the modules that guard correctness, against the tests that guard them (cosmic-ray).

    uv run python scripts/mutation.py                 # every target below
    uv run python scripts/mutation.py guard errors    # some of them
    uv run python scripts/mutation.py --list          # the targets, their modules and tests

Each mutant (an operator flipped, a constant changed, a condition negated, ...) is applied to a scratch copy of the
working tree, never to the tree itself: the tests start real servers as subprocesses, which import the mutated
source from the copy. A mutant is *killed* when the target's tests fail with it, *survives* when they pass. Every
survivor is printed with its diff: either a test is missing, or the mutant is equivalent (no behaviour can tell it
apart) and docs/testing.md says why. The scores recorded there come from this command.

This is a habit, not a gate: it takes minutes per module, so it is not part of `scripts/test.sh`.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

ROOT = Path(__file__).resolve().parents[1]
PYTEST = "python -m pytest -x -q -p no:cacheprovider --timeout 120"


@dataclass(frozen=True)
class Target:
    """A module, the tests that must kill its mutants, and optionally the only functions to mutate."""

    module: str
    tests: str
    functions: tuple[str, ...] = field(default=())


TARGETS = {
    "guard": Target("src/prynai_mcp/http/guard.py", "tests/feature/test_http_edge.py tests/feature/test_bad_input.py"),
    "errors": Target(
        "src/prynai_mcp/http/errors.py",
        "tests/feature/test_error_middleware.py tests/feature/test_bad_input.py "
        "tests/sessions/test_redis_outage.py::test_session_requests_get_503_with_retry_after_while_redis_is_down",
    ),
    "verifier": Target("src/prynai_mcp/auth/verifier.py", "tests/auth/test_verifier.py tests/auth/test_permissions.py"),
    "keys": Target("src/prynai_mcp/auth/keys.py", "tests/auth/test_signing_keys.py tests/auth/test_verifier.py"),
    "session-end": Target(
        "src/prynai_mcp/sessions/manager.py",
        "tests/feature/test_sessions.py tests/feature/test_resumability.py "
        "tests/sessions/test_roaming.py::test_delete_ends_the_session_on_every_replica "
        "tests/sessions/test_roaming.py::test_idle_sessions_expire_on_every_replica",
        functions=("_end_session", "_discard_session", "_expiring"),
    ),
    "session-registry": Target(
        "src/prynai_mcp/sessions/registry.py",
        "tests/feature/test_sessions.py tests/feature/test_resumability.py",
        functions=("get", "delete", "create"),
    ),
    "redis-session-end": Target(
        "src/prynai_mcp/sessions/redis_stores.py",
        "tests/sessions/test_roaming.py::test_delete_ends_the_session_on_every_replica "
        "tests/sessions/test_roaming.py::test_idle_sessions_expire_on_every_replica tests/sessions/test_event_log.py",
        functions=("get", "delete", "create", "delete_session"),
    ),
    "redis-state-end": Target(
        "src/prynai_mcp/state/redis.py",
        "tests/sessions/test_roaming.py::test_delete_ends_the_session_on_every_replica "
        "tests/sessions/test_session_state_ttl.py tests/sessions/test_redis_backend.py",
        functions=("forget_session", "touch_session"),
    ),
    "memory-state": Target(
        "src/prynai_mcp/state/memory.py",
        "tests/feature/test_resources_subscription.py tests/feature/test_notifications.py",
    ),
    # The in-process journal tests first: they kill most mutants in a fraction of a second.
    "change-journal": Target(
        "src/prynai_mcp/state/redis_journal.py",
        "tests/sessions/test_change_journal.py tests/sessions/test_change_recovery.py",
    ),
    "change-feed": Target(
        "src/prynai_mcp/changes.py",
        "tests/sessions/test_change_journal.py tests/sessions/test_change_recovery.py "
        "tests/feature/test_resources_subscription.py",
    ),
}


def scratch_copy() -> Path:
    """The working tree as git sees it (tracked and untracked-but-not-ignored files), with its own environment."""
    scratch = Path(tempfile.mkdtemp(prefix="prynai-mutation-"))
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / name.decode()
        if source.is_file():
            target = scratch / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    subprocess.run(["uv", "sync", "--frozen", "--quiet"], cwd=scratch, check=True)
    return scratch


def run_target(name: str, target: Target, scratch: Path) -> dict[str, object]:
    config = scratch / f"mutation-{name}.toml"
    session = scratch / f"mutation-{name}.sqlite"
    config.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{target.module}"\n'
        "timeout = 300.0\n"
        "excluded-modules = []\n"
        f'test-command = "{PYTEST} {target.tests}"\n'
        '[cosmic-ray.distributor]\nname = "local"\n'
    )
    baseline = subprocess.run(f"uv run --frozen {PYTEST} {target.tests}", shell=True, cwd=scratch)
    if baseline.returncode != 0:
        raise SystemExit(f"{name}: the tests fail without any mutant; fix them first")
    subprocess.run(["uv", "run", "--frozen", "cosmic-ray", "init", str(config), str(session)], cwd=scratch, check=True)
    with use_db(str(session), WorkDB.Mode.open) as db:
        skip_annotations(db, scratch / target.module)
        if target.functions:
            skip_outside(db, target.functions)
    started = time.monotonic()
    subprocess.run(["uv", "run", "--frozen", "cosmic-ray", "exec", str(config), str(session)], cwd=scratch, check=True)
    with use_db(str(session), WorkDB.Mode.open) as db:
        summary = summarize(name, target, db)
    summary["seconds"] = round(time.monotonic() - started)
    return summary


def skip_outside(db: WorkDB, functions: tuple[str, ...]) -> None:
    """Mark every mutant outside `functions` as skipped, so only those paths are tested."""
    for item in db.pending_work_items:
        if not any(mutation.definition_name in functions for mutation in item.mutations):
            db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output="outside the target"))


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where the module's type annotations are, as ((line, column), (end line, end column))."""
    spans = []
    for node in ast.walk(ast.parse(source)):
        annotations: list[ast.expr | None] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args
            every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]
            annotations += [argument.annotation for argument in every if argument is not None]
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for annotation in annotations:
            if annotation is not None and annotation.end_lineno is not None and annotation.end_col_offset is not None:
                start = (annotation.lineno, annotation.col_offset)
                spans.append((start, (annotation.end_lineno, annotation.end_col_offset)))
    return spans


def skip_annotations(db: WorkDB, module: Path) -> None:
    """Mark mutants inside type annotations as skipped: every module starts `from __future__ import annotations`, so
    annotations are strings never evaluated, and a mutant there cannot change behaviour (it is equivalent)."""
    source = module.read_text()
    assert "from __future__ import annotations" in source, f"{module}: annotations would be evaluated"
    spans = annotation_spans(source)
    for item in db.pending_work_items:
        if all(any(start <= tuple(m.start_pos) < end for start, end in spans) for m in item.mutations):
            db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output="in an annotation"))


def summarize(name: str, target: Target, db: WorkDB) -> dict[str, object]:
    counts = {"killed": 0, "survived": 0, "timeout or crash": 0, "skipped": 0}
    survivors: list[dict[str, object]] = []
    for item, result in db.completed_work_items:
        if result.worker_outcome == WorkerOutcome.SKIPPED:
            counts["skipped"] += 1
        elif result.worker_outcome != WorkerOutcome.NORMAL:
            counts["timeout or crash"] += 1  # a mutant that hangs or breaks the run is caught too
        elif result.test_outcome == TestOutcome.SURVIVED:
            counts["survived"] += 1
            mutation = item.mutations[0]
            survivors.append(
                {
                    "line": mutation.start_pos[0],
                    "function": mutation.definition_name,
                    "operator": mutation.operator_name,
                    "diff": result.diff,
                }
            )
        else:
            counts["killed"] += 1
    tested = counts["killed"] + counts["survived"] + counts["timeout or crash"]
    score = (tested - counts["survived"]) / tested if tested else 1.0
    return {"target": name, "module": target.module, **counts, "score": round(score, 3), "survivors": survivors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", help=f"some of: {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--list", action="store_true", help="print the targets and exit")
    parser.add_argument("--report", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args()
    if args.list:
        for name, target in TARGETS.items():
            only = f" (only {', '.join(target.functions)})" if target.functions else ""
            print(f"{name}: {target.module}{only}\n    tests: {target.tests}")
        return
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    chosen = args.targets or list(TARGETS)
    os.environ.pop("VIRTUAL_ENV", None)  # the scratch copy's own environment, not this one
    scratch = scratch_copy()
    results = []
    try:
        for name in chosen:
            summary = run_target(name, TARGETS[name], scratch)
            results.append(summary)
            print(
                f"\n== {name} ({summary['module']}): {summary['killed']} killed, {summary['survived']} survived, "
                f"{summary['timeout or crash']} timeout/crash, {summary['skipped']} skipped, "
                f"score {summary['score']:.0%}, {summary['seconds']} s",
                flush=True,
            )
            for survivor in summary["survivors"]:  # type: ignore[attr-defined]
                print(f"-- survived: line {survivor['line']} in {survivor['function']} ({survivor['operator']})")
                print(survivor["diff"])
            if args.report:  # after each target, so a long run that is stopped keeps what it measured
                args.report.write_text(json.dumps(results, indent=2))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    sys.exit(1 if any(r["survived"] for r in results) else 0)


if __name__ == "__main__":
    main()
