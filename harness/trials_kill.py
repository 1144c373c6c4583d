"""Trial 1: the leader SIGKILLed at a random moment of a failover.

Each run fails the ENI's holder, waits until the failover's record exists,
sleeps a random fraction of an undisturbed failover's duration and kills the
leader's process group. The next leader must finish that same failover: one
record, completed, one attach in the cloud, and the ENI without a holder for
no longer than an undisturbed failover plus one takeover (session timeout).
A replacement replica keeps three alive.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from harness.chaos import ChaosSystem, pause
from harness.chaos_events import percentile
from harness.trials import Progress, TrialResult, current_step, fail_and_wait, judge, quiet, restore

SLACK_S = 2.0  # a shared 2-core machine: scheduling noise, not the product


def leader_kill(system: ChaosSystem, runs: int, seed: int = 1, progress: Progress = quiet) -> TrialResult:
    result = TrialResult("1. leader SIGKILL during a failover", runs)
    rng = random.Random(seed)
    g = system.groups[0]
    session = system.spec.session_timeout_s

    src = system.holder_of(g) or g.members[0]
    base = fail_and_wait(system, g)
    judge(result, "baseline", base, system.other(g, src))
    restore(system, src)
    window = float(base.record["duration_s"] or 1.0)
    base_gap = base.gap_s or window
    bound = base_gap + 2 * session + SLACK_S
    gaps: list[float] = []
    killed_in: Counter[str] = Counter()
    durations: list[float] = []

    for i in range(runs):
        held = system.holder_of(g)
        if held is None:
            result.fail(f"run {i}: the ENI has no holder before the run")
            break
        src = held
        dst = system.other(g, src)
        leader = system.f.leader()
        if leader is None:
            result.fail(f"run {i}: no leader before the run")
            break
        delay = rng.uniform(0, window)
        seen: dict[str, Any] = {}

        def kill(rec: dict[str, Any], delay: float = delay, cid: str = leader.cid,
                 seen: dict[str, Any] = seen) -> None:
            pause(delay)
            now = next((r for r in system.records(g.name) if r["id"] == rec["id"]), rec)
            seen["step"] = "finished" if now["result"] != "running" else current_step(now)
            system.f.kill(cid)

        try:
            out = fail_and_wait(system, g, during=kill, timeout=90)
        except AssertionError as e:
            result.fail(f"run {i}: {str(e).splitlines()[0]}")
            break
        killed_in[seen.get("step", "?")] += 1
        judge(result, f"run {i}", out, dst)
        if out.gap_s is not None:
            gaps.append(out.gap_s)
            result.check(out.gap_s <= bound, f"run {i}: ENI without a holder for {out.gap_s:.2f} s "
                                             f"(bound {bound:.2f} s)")
        if out.record.get("duration_s") is not None:
            durations.append(float(out.record["duration_s"]))
        progress(f"trial 1 run {i + 1}/{runs}: killed {leader.cid} in {seen.get('step')} after "
                 f"{delay:.2f} s; gap {out.gap_s or 0:.2f} s; {out.record['result']}")
        system.f.start(leader.cid)
        try:
            restore(system, src)
        except AssertionError as e:
            result.fail(f"run {i}: not steady afterwards: {str(e).splitlines()[0]}")
            break

    result.figures = {
        "undisturbed_failover_s": round(window, 3),
        "undisturbed_gap_s": round(base_gap, 3),
        "gap_bound_s": round(bound, 3),
        "gap_max_s": round(max(gaps), 3) if gaps else None,
        "gap_p50_s": round(percentile(gaps, 0.5) or 0, 3) if gaps else None,
        "failover_p50_s": round(percentile(durations, 0.5) or 0, 3) if durations else None,
        "failover_max_s": round(max(durations), 3) if durations else None,
        "killed_during_step": dict(killed_in),
        "session_timeout_s": session,
    }
    return result.done()
