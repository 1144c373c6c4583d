"""Trial 2: ZooKeeper fails during a failover (a 3-node ensemble).

a. The ensemble's leader node is SIGKILLed right after a failover began:
   the failover completes, once.
b. The whole ensemble is SIGKILLed while the attach call is in flight and
   kept down for `down_s`: no cloud mutation starts later than the session
   timeout after the stop (a controller without a live session does not act),
   and once ZooKeeper is back the same failover resumes and completes.
"""

from __future__ import annotations

import random
import time
from typing import Any

from harness.chaos import ChaosSystem, pause
from harness.chaos_events import mutations_after
from harness.trials import Progress, TrialResult, fail_and_wait, judge, quiet, restore
from harness.waiting import wait_for

ATTACH_LATENCY_S = 1.0


def zk_leader_killed(system: ChaosSystem, runs: int, seed: int = 2, progress: Progress = quiet) -> TrialResult:
    result = TrialResult("2a. ZooKeeper leader node killed during a failover", runs)
    rng = random.Random(seed)
    g = system.groups[0]
    zk = system.zk
    for i in range(runs):
        src = system.holder_of(g)
        if src is None:
            result.fail(f"run {i}: the ENI has no holder")
            break
        killed: list[int] = []

        def kill(_rec: dict[str, Any], killed: list[int] = killed) -> None:
            pause(rng.uniform(0, 1.0))
            lid = zk.leader_id()
            if lid is not None:
                zk.stop_node(lid)
                killed.append(lid)

        try:
            out = fail_and_wait(system, g, during=kill, timeout=90)
        except AssertionError as e:
            result.fail(f"run {i}: {str(e).splitlines()[0]}")
            break
        finally:
            for lid in killed:
                zk.start_node(lid)
        result.check(bool(killed), f"run {i}: no ZooKeeper leader found to kill")
        judge(result, f"run {i}", out, system.other(g, src))
        progress(f"trial 2a run {i + 1}/{runs}: killed zk node {killed}; {out.record['result']} in "
                 f"{out.record.get('duration_s') or 0:.2f} s")
        try:
            restore(system, src, timeout=90)
        except AssertionError as e:
            result.fail(f"run {i}: not steady afterwards: {str(e).splitlines()[0]}")
            break
    return result.done()


def _attach_running(system: ChaosSystem, rec_id: str) -> bool:
    recs = system.records_or_none(system.groups[0].name) or []
    rec = next((r for r in recs if r["id"] == rec_id), None)
    return rec is not None and any(s["name"] == "attach" and s["status"] == "running" for s in rec["steps"])


def zk_outage(system: ChaosSystem, runs: int, down_s: float = 6.0, progress: Progress = quiet) -> TrialResult:
    result = TrialResult("2b. whole ZooKeeper ensemble down during a failover", runs)
    g = system.groups[0]
    zk = system.zk
    session = system.spec.session_timeout_s
    late: list[int] = []
    resumed_s: list[float] = []
    for i in range(runs):
        src = system.holder_of(g)
        if src is None:
            result.fail(f"run {i}: the ENI has no holder")
            break
        seen: dict[str, float] = {}

        def outage(rec: dict[str, Any], seen: dict[str, float] = seen, i: int = i) -> None:
            wait_for(lambda: _attach_running(system, rec["id"]), 30, "the attach step to start", system.diag)
            seq = system.last_seq()
            stopped = time.time()
            zk.stop()
            pause(down_s)
            system.s.control.latency("AttachNetworkInterface", 0)
            bad = mutations_after(system.events(seq), stopped + session)
            late.append(len(bad))
            result.check(not bad, f"run {i}: cloud mutations without a live session: "
                                  f"{[(e['kind'], e['id'], e['to']) for e in bad]}")
            zk.start()
            seen["back"] = time.monotonic()

        system.s.control.latency("AttachNetworkInterface", ATTACH_LATENCY_S)
        try:
            out = fail_and_wait(system, g, during=outage, timeout=120)
        except AssertionError as e:
            result.fail(f"run {i}: {str(e).splitlines()[0]}")
            break
        finally:
            system.s.control.latency("AttachNetworkInterface", 0)
            zk.start()
        if "back" in seen:
            resumed_s.append(time.monotonic() - seen["back"])
        judge(result, f"run {i}", out, system.other(g, src))
        progress(f"trial 2b run {i + 1}/{runs}: {out.record['result']}; late mutations {late[-1:]}")
        try:
            restore(system, src, timeout=90)
        except AssertionError as e:
            result.fail(f"run {i}: not steady afterwards: {str(e).splitlines()[0]}")
            break
    result.figures = {"down_s": down_s, "session_timeout_s": session,
                      "mutations_after_session_timeout": sum(late),
                      "completed_after_return_max_s": round(max(resumed_s), 2) if resumed_s else None}
    return result.done()
