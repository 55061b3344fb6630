"""The load test's gate: a bump never runs while a session subscribes or unsubscribes, or its count is wrong.

Greenlets run in a child interpreter (gevent, as Locust's users do), so nothing of gevent enters the test process.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A bump waits while a subscription is made; the subscriber ends it and at once (no switch) makes another. The bump
# must not slip in beside the second: gevent wakes it after the first ended, when the gate is closed again.
SCENARIO = """
import gevent
from ledger import Gate

gate = Gate()
log = []

def subscriber():
    with gate.quiet():
        log.append("quiet")
        gevent.sleep(0.02)
        log.append("end")
    with gate.quiet():
        log.append("quiet")
        gevent.sleep(0.02)
        log.append("end")

def bumper():
    gevent.sleep(0.005)
    with gate.bump():
        log.append("bump")
        gevent.sleep(0.01)
        log.append("bumped")

gevent.joinall([gevent.spawn(subscriber), gevent.spawn(bumper)])
print(" ".join(log))
"""


def test_a_bump_held_at_the_gate_never_runs_beside_the_next_subscription() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCENARIO], cwd=ROOT / "bench" / "load", capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["quiet", "end", "quiet", "end", "bump", "bumped"]
