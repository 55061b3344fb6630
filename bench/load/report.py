"""The report of one run: the verdict, `summary.json`, and a chart people would rather look at than read.

The chart has one panel per question, over the seconds of the run, with the fault (SIGKILL to the restart) shaded:
how much got done (requests/s), how fast quick calls were (p50/p95 against the budget), what went wrong (requests
interrupted by the fault, errors, sessions lost), and which process spent the CPU.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
from ledger import SLOW, Ledger, percentile


def per_request(ledger: Ledger) -> dict[str, dict[str, Any]]:
    """Count, failures and latency percentiles of each request name."""
    latencies: dict[str, list[float]] = defaultdict(list)
    failures: dict[str, int] = defaultdict(int)
    for sample in ledger.samples:
        if sample.name == "check":
            continue
        if sample.kind == "ok":
            latencies[sample.name].append(sample.ms)
        else:
            failures[sample.name] += 1
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(latencies) | set(failures)):
        values = latencies.get(name, [])
        out[name] = {
            "requests": len(values) + failures.get(name, 0),
            "failures": failures.get(name, 0),
            "p50_ms": _round(percentile(values, 50)),
            "p95_ms": _round(percentile(values, 95)),
            "quick": name not in SLOW,
        }
    return out


def verdict(summary: dict[str, Any]) -> tuple[str, list[str]]:
    """PASS or FAIL, and every reason for a FAIL."""
    reasons = []
    p95, budget = summary["p95_ms"], summary["p95_budget_ms"]
    if p95 is None or p95 > budget:
        reasons.append(f"p95 of quick calls {p95} ms is over the budget of {budget:g} ms")
    if summary["sessions_lost"]:
        reasons.append(f"{summary['sessions_lost']} sessions lost")
    if summary["notifications_lost"]:
        reasons.append(f"{summary['notifications_lost']} notifications lost")
    notes = summary["notifications"]
    if notes["duplicated"]:
        reasons.append(f"{notes['duplicated']} notifications delivered twice")
    if notes["unexpected"]:
        reasons.append(f"{notes['unexpected']} notifications nobody was owed")
    if summary["errors"]:
        reasons.append(f"{summary['errors']} errors the fault does not explain")
    if summary["unfinished_users"]:
        reasons.append(f"{summary['unfinished_users']} users did not finish within the stop timeout")
    if not summary["requests"]:
        reasons.append("no request was made")
    return ("FAIL" if reasons else "PASS"), reasons


def verdict_text(summary: dict[str, Any]) -> str:
    notes = summary["notifications"]
    if notes["exact"]:
        exact = "exact"
    else:
        exact = f"at least; at most {notes['lost_at_most']}: some of the bumps the fault cut had run"
    fault = summary.get("fault")
    lines = [
        f"requests      : {summary['requests']} ({summary['requests_per_second']:.0f}/s), "
        f"sessions {summary['sessions']}, users {summary['users']}",
        f"p95 quick     : {summary['p95_ms']} ms (p50 {summary['p50_ms']} ms) against a budget of "
        f"{summary['p95_budget_ms']:g} ms",
        f"sessions lost : {summary['sessions_lost']}",
        f"notifications : {notes['received']} received of {notes['updates']} counter updates made while subscribed, "
        f"{summary['notifications_lost']} lost ({exact}), {notes['duplicated']} twice, over "
        f"{notes['subscriptions_counted']} subscriptions",
    ]
    if notes["late"]:
        lines.append(
            f"                {notes['late']} more were in the sessions' event logs but not delivered on their "
            "streams within the drain time (late, not lost)"
        )
    for where, count in notes["lost_by_stream_history"].items():
        lines.append(f"                {count} lost where the {where}")
    if notes["cut_bumps"]:
        ran = notes["cut_bumps_that_ran"]
        lines.append(
            f"                {notes['cut_bumps']} bump_counter calls cut by the fault, "
            f"{'an unknown number' if ran is None else ran} of which had changed the counter"
            + (
                f"; {notes['lost_in_windows_spanning_a_cut_bump_that_ran']} of the lost in subscriptions spanning them"
                if ran
                else ""
            )
        )
    lines += [
        f"interrupted   : {summary['interrupted']} by the fault ({summary['interrupted_reported']} reported as -32054, "
        f"{summary['interrupted_cut']} cut with their connection), {summary['retried']} retried once",
        f"errors        : {summary['errors']}"
        + "".join(f"\n                {count} x {what}" for what, count in summary["error_kinds"].items()),
    ]
    if fault:
        back = f", serving again at {fault['back_at']:.1f} s" if fault.get("back_at") is not None else ""
        lines.append(f"fault         : {fault['replica']} SIGKILLed at {fault['killed_at']:.1f} s{back}")
    for lost in summary["lost_examples"][:5]:
        lines.append(f"lost session  : {lost['session']} at {lost['at']:.1f} s: {lost['why']}")
    lines.append(f"VERDICT       : {summary['verdict']}" + "".join(f"\n  - {r}" for r in summary["verdict_reasons"]))
    return "\n".join(lines)


def chart(
    ledger: Ledger, cpu: list[tuple[float, dict[str, float]]], budget_ms: float, seconds: float, path: Path, title: str
) -> None:
    """Throughput, latency, failures and CPU per second, with the fault marked."""
    end = max(seconds, max((s.at for s in ledger.samples), default=0.0))
    buckets = range(math.ceil(end) + 1)
    done = [0] * len(buckets)
    interrupted = [0] * len(buckets)
    errors = [0] * len(buckets)
    quick: list[list[float]] = [[] for _ in buckets]
    for sample in ledger.samples:
        b = min(int(sample.at), len(buckets) - 1)
        if sample.kind == "ok":
            done[b] += 1
            if sample.name not in SLOW:
                quick[b].append(sample.ms)
        elif sample.kind in ("interrupted", "draining"):
            interrupted[b] += 1
        else:
            errors[b] += 1
    lost = [0] * len(buckets)
    for record in ledger.lost:
        lost[min(int(record["at"]), len(buckets) - 1)] += 1
    x = [b + 0.5 for b in buckets]

    fig, axes = plt.subplots(4, 1, figsize=(11, 11), sharex=True, gridspec_kw={"height_ratios": [2, 2, 1.4, 1.6]})
    fig.suptitle(title, fontsize=11)
    ax = axes[0]
    ax.plot(x, done, color="tab:blue", label="answered")
    ax.set_ylabel("requests / s")
    ax.legend(loc="upper left", fontsize=8)

    ax = axes[1]
    p50 = [percentile(v, 50) if v else math.nan for v in quick]
    p95 = [percentile(v, 95) if v else math.nan for v in quick]
    ax.plot(x, p50, color="tab:green", label="p50 quick calls")
    ax.plot(x, p95, color="tab:orange", label="p95 quick calls")
    ax.axhline(budget_ms, color="tab:red", linestyle=":", label=f"p95 budget {budget_ms:g} ms")
    ax.set_ylabel("ms")
    ax.set_yscale("log")
    ax.legend(loc="upper left", fontsize=8)

    ax = axes[2]
    ax.bar(x, interrupted, width=0.9, color="tab:purple", label="interrupted by the fault (retried)")
    ax.bar(x, errors, width=0.9, bottom=interrupted, color="tab:red", label="errors")
    ax.bar(
        x,
        lost,
        width=0.9,
        bottom=[i + e for i, e in zip(interrupted, errors, strict=True)],
        color="black",
        label="sessions lost",
    )
    ax.set_ylabel("per second")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=8)

    ax = axes[3]
    for name, series in _cpu_series(cpu).items():
        style = {"color": "grey", "linestyle": "--", "label": "whole machine"} if name == "machine" else {"label": name}
        ax.plot([t for t, _ in series], [c for _, c in series], linewidth=1.2, **style)
    ax.set_ylabel("CPU cores")
    ax.set_xlabel("seconds into the run")
    ax.legend(loc="upper left", fontsize=7, ncol=4)

    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.axvline(seconds, color="grey", linewidth=1, linestyle=":")  # users stop and close their sessions
        if ledger.fault_at is not None:
            back = ledger.restarted_at if ledger.restarted_at is not None else end
            ax.axvspan(ledger.fault_at, back, color="tab:red", alpha=0.12)
            ax.axvline(ledger.fault_at, color="tab:red", linewidth=1)
    axes[0].annotate(
        "users stop",
        (seconds, 1),
        xycoords=("data", "axes fraction"),
        xytext=(-4, -12),
        textcoords="offset points",
        color="grey",
        fontsize=8,
        ha="right",
    )
    if ledger.fault_at is not None:
        again = (
            ""
            if ledger.restarted_at is None
            else f", serving again {ledger.restarted_at - ledger.fault_at:.1f} s later"
        )
        axes[0].annotate(
            f"replica SIGKILLed{again}",
            (ledger.fault_at, 1),
            xycoords=("data", "axes fraction"),
            xytext=(4, -12),
            textcoords="offset points",
            color="tab:red",
            fontsize=8,
        )
    axes[3].set_xlim(0, end)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _cpu_series(samples: list[tuple[float, dict[str, float]]]) -> dict[str, list[tuple[float, float]]]:
    """Cores each process used between two samples (replicas summed over their restarts)."""
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for (t0, before), (t1, after) in itertools.pairwise(samples):
        span = t1 - t0
        if span < 0.5:  # two readings this close say more about the clock than about the process
            continue
        for name, value in after.items():
            if name in before:
                series[name].append(((t0 + t1) / 2, max(0.0, value - before[name]) / span))
    return dict(series)


def _round(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 2)
