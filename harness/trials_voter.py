"""The stale-voter trial: a replica's rounds stop while its ZooKeeper session stays alive.

A fourth voter (the product's coordination code in its own process, `stale_voter.py`) joins
the three `failover run` replicas and votes the ENI's holder down every round, until its loop
is frozen: its session, registration and last vote stay in ZooKeeper. While its rounds
advance, its vote shows in the leader's /status; once they stop, the leader must stop counting
it within the vote's maximum age (3 intervals + 3 s) plus the cadence that carries round
times and /status's refresh (figures: how long it took), and no
failover may happen because of it. A real failure afterwards still fails over once.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from failover.quorum import vote_max_age
from harness.chaos import ChaosSystem
from harness.trials import Progress, TrialResult, fail_and_wait, judge, quiet, restore
from harness.waiting import wait_for

REPO = Path(__file__).resolve().parents[1]
VOTER = "ctl-stale"
# From the freeze to the vote leaving the leader's /status: the last round time reaches the
# leader up to ~2.5 s late (written at most once a second on the worker's 1 s tick, read every
# 0.5 s), then the vote's maximum age, then /status's rebuild (at most a second), and 1 s for
# a loaded shared machine.
SLACK_S = 4.5


def counted_votes(system: ChaosSystem, instance: str) -> dict[str, bool] | None:
    st = system.leader_status()
    if not st:
        return None
    for g in st["groups"]:
        for m in g["members"]:
            if m["instance"] == instance:
                return dict(m["votes"])
    return None


def stale_voter(system: ChaosSystem, runs: int = 1, progress: Progress = quiet) -> TrialResult:
    result = TrialResult("21d. stale voter: rounds frozen, session alive", runs)
    g = system.groups[0]
    interval = float(system.spec.health.get("interval_s", 0.2))
    bound = vote_max_age(interval) + SLACK_S
    took: list[float] = []
    for i in range(runs):
        holder = system.holder_of(g)
        assert holder is not None
        records_before = len(system.records(g.name))
        freeze = system.workdir / f"freeze-{i}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness.stale_voter", "--hosts", system.zk.hosts,
             "--root", system.root, "--id", VOTER, "--group", g.name, "--instance", holder,
             "--down", "--every", str(interval), "--freeze", str(freeze)],
            cwd=REPO, stdout=subprocess.PIPE, text=True)
        try:
            def counted(h: str = holder) -> bool:
                return (counted_votes(system, h) or {}).get(VOTER) is False

            def stopped_counting(h: str = holder) -> bool:
                return VOTER not in (counted_votes(system, h) or {VOTER: False})

            wait_for(counted, 30, "the voter's vote to count", system.diag)
            freeze.touch()
            t0 = time.monotonic()
            wait_for(stopped_counting, bound + 10, "the frozen vote to stop counting", system.diag)
            took.append(time.monotonic() - t0)
            result.check(took[-1] <= bound, f"run {i}: the frozen vote counted {took[-1]:.1f} s "
                                            f"(bound {bound:.1f} s)")
            st = system.leader_status() or {}
            live = [c["id"] for c in st.get("controllers", [])]
            result.check(VOTER in live, f"run {i}: the voter's session should still be live: {live}")
            time.sleep(1.0)
            result.check(len(system.records(g.name)) == records_before,
                         f"run {i}: a failover happened while the stale vote said {holder} down")
        finally:
            proc.terminate()
            proc.wait(10)
        progress(f"run {i + 1}/{runs}: frozen vote stopped counting after {took[-1]:.2f} s")
    src = system.holder_of(g) or g.members[0]
    out = fail_and_wait(system, g, timeout=60)
    judge(result, "a real failure afterwards", out, system.other(g, src))
    restore(system, src)
    result.figures = {"dropped_after_s": [round(t, 2) for t in took], "bound_s": round(bound, 2),
                      "vote_max_age_s": vote_max_age(interval), "health_interval_s": interval}
    return result.done()
