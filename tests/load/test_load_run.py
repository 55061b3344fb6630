"""The load test's runner, end to end: real Redis, real replicas, real HAProxy, Locust users, a replica SIGKILLed.

These check that the verdict is right, not that the server is fast: a few users for a few seconds, and a p95 budget
no machine misses. With Redis the killed replica costs no session and no notification; without it (replicas that
share nothing behind a balancer with no stickiness) sessions are lost, and the verdict must say so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "bench" / "load" / "run.py"
GENEROUS_BUDGET_MS = "5000"

pytestmark = pytest.mark.skipif(
    shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").is_file(),
    reason="needs Debian's haproxy (apt-get install -y haproxy)",
)


def run_load(report: Path, *options: str) -> tuple[int, str, dict[str, Any]]:
    command = [sys.executable, str(RUNNER), "--report", str(report), "--p95-budget-ms", GENEROUS_BUDGET_MS, *options]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    output = done.stdout + done.stderr
    summary_path = report / "summary.json"
    assert summary_path.is_file(), output
    return done.returncode, output, json.loads(summary_path.read_text())


def test_a_replica_killed_under_load_loses_no_session_and_no_notification(tmp_path: Path) -> None:
    report = tmp_path / "report"
    status, output, summary = run_load(
        report,
        *("--replicas", "2", "--users", "6", "--seconds", "12", "--kill-at", "5"),
        *("--think", "0.4", "--calls-per-session", "6"),
    )
    assert summary["verdict"] == "PASS", output
    assert status == 0, output
    assert summary["sessions"] > 0 and summary["requests"] > 0
    assert summary["sessions_lost"] == 0
    assert summary["notifications_lost"] == 0
    assert summary["notifications"]["updates"] > 0, "no counter update was due: the check had nothing to count"
    assert summary["notifications"]["received"] == summary["notifications"]["updates"]
    assert summary["errors"] == 0, summary["error_kinds"]
    # The fault happened, and the balancer really spread each session over both replicas.
    assert summary["fault"]["replica"] == "replica-0" and summary["fault"]["back_at"] > summary["fault"]["killed_at"]
    assert summary["balancer"]["sessions_served_by_several_replicas"] > 0
    assert all(count > 0 for count in summary["balancer"]["requests_per_replica"].values())
    # The verdict comes last, and the report has what it promises.
    assert output.rstrip().splitlines()[-1] == "VERDICT       : PASS"
    for name in ("summary.json", "locust.html", "locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv"):
        assert (report / name).stat().st_size > 0, name
    assert "tools/call add" in (report / "locust_stats.csv").read_text()
    chart = (report / "chart.png").read_bytes()
    assert chart.startswith(b"\x89PNG\r\n\x1a\n") and len(chart) > 20_000
    assert {"replica-0.log", "replica-1.log", "redis.log", "haproxy.log"} <= {
        p.name for p in (report / "logs").iterdir()
    }


def test_replicas_that_share_nothing_lose_sessions_and_the_verdict_says_so(tmp_path: Path) -> None:
    status, output, summary = run_load(
        tmp_path / "report", *("--backend", "memory", "--replicas", "2", "--users", "4", "--seconds", "5")
    )
    assert summary["sessions_lost"] > 0, output
    assert any("404 session not found" in lost["why"] for lost in summary["lost_examples"])
    assert summary["verdict"] == "FAIL"
    assert any("sessions lost" in reason for reason in summary["verdict_reasons"])
    assert status == 1, output
