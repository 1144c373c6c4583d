"""Trials 3, 4 and 6: a faulty cloud API, a flapping primary, a hung primary whose detach stalls.

3. Every API action fails 30 % of the time, spread over throttling, 5xx,
   timeouts (the call is answered after the client gave up, so it *did*
   happen) and dropped connections. Every failover completes and each side
   effect happens once: one detach, one attach, one configure invocation.
4. The holder flaps (down/up every `period_s` for `duration_s`) with
   `flap_max_failovers: 1`: at most one failover, then the group is blocked
   until `failover ack`, which arms it again.
6. The holder hangs (the emulator keeps its detach in Detaching): the engine
   force-stops it (`fence: on_detach_timeout`), the failover completes, and
   the old holder, started again, does not get the ENI back.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from harness.chaos import ChaosSystem, Spec
from harness.chaos_events import instance_stops, invocations_by_instance
from harness.trials import Progress, TrialResult, fail_and_wait, judge, quiet, restore
from harness.waiting import wait_for

FAULT_RATE = 0.30
READ_TIMEOUT_S = 1.0

FAULT_SPEC = Spec(cloud={"read_timeout_s": READ_TIMEOUT_S, "connect_timeout_s": 1.0},
                  policy={"guest_timeout_s": 30, "attach_timeout_s": 30, "detach_timeout_s": 30,
                          "verify_timeout_s": 10})
FLAP_SPEC = Spec(policy={"flap_max_failovers": 1, "flap_window_s": 3600})
HANG_SPEC = Spec(policy={"fence": "on_detach_timeout", "detach_timeout_s": 1.0, "detach_retry_s": 0.5,
                         "stop_timeout_s": 15})


def fault_rules(rate: float = FAULT_RATE) -> list[dict[str, Any]]:
    """Four kinds, each with the same chance, together failing `rate` of all calls."""
    p = round(1 - (1 - rate) ** 0.25, 4)
    return [
        {"action": "*", "code": "Throttling.User", "status": 400, "retry_after_ms": 200, "probability": p},
        {"action": "*", "code": "ServiceUnavailable", "status": 503, "probability": p},
        {"action": "*", "delay_s": READ_TIMEOUT_S + 0.5, "probability": p},  # answered too late
        {"action": "*", "drop_connection": True, "probability": p},
    ]


# ------------------------------------------------------------------ trial 3


def api_faults(system: ChaosSystem, runs: int, progress: Progress = quiet) -> TrialResult:
    result = TrialResult("3. API faults (30 %) on every action", runs)
    g = system.groups[0]
    for rule in fault_rules():
        system.s.control.fault(**rule)
    durations: list[float] = []
    try:
        for i in range(runs):
            src = system.holder_of(g)
            if src is None:
                result.fail(f"run {i}: the ENI has no holder")
                break
            dst = system.other(g, src)
            seq0 = system.last_seq()
            try:
                out = fail_and_wait(system, g, timeout=120)
            except AssertionError as e:
                result.fail(f"run {i}: {str(e).splitlines()[0]}")
                break
            judge(result, f"run {i}", out, dst)
            configure = invocations_by_instance(system.events(seq0), "configure")[dst]
            result.check(configure == 1, f"run {i}: {configure} Cloud Assistant invocations on {dst}")
            if out.record.get("duration_s") is not None:
                durations.append(float(out.record["duration_s"]))
            progress(f"trial 3 run {i + 1}/{runs}: {out.record['result']} in "
                     f"{out.record.get('duration_s') or 0:.2f} s, {configure} invocation(s)")
            seq1 = system.last_seq()
            try:
                restore(system, src, timeout=120)
                system.wait_released(g.name, timeout=120)
            except AssertionError as e:
                result.fail(f"run {i}: not steady afterwards: {str(e).splitlines()[0]}")
                break
            releases = invocations_by_instance(system.events(seq1), "release")[src]
            result.check(releases == 1, f"run {i}: {releases} release invocations on {src}")
        fired = sum(r["fired"] for r in system.s.control.state()["faults"]["rules"])
    finally:
        system.s.control.clear_faults()
    result.figures = {"faults_injected": fired, "fault_rate": FAULT_RATE,
                      "failover_max_s": round(max(durations), 2) if durations else None,
                      "failover_mean_s": round(sum(durations) / len(durations), 2) if durations else None}
    return result.done()


# ------------------------------------------------------------------ trial 4


def _flap(system: ChaosSystem, period_s: float, duration_s: float, stop: threading.Event) -> None:
    """Down/up every `period_s`: whoever holds the ENI when a down phase begins goes down."""
    g = system.groups[0]
    end = time.monotonic() + duration_s
    down = True
    while not stop.is_set() and time.monotonic() < end:
        if down:
            holder = system.holder_of(g)
            if holder is not None:
                system.fail(holder)
        else:
            for m in g.members:
                system.heal(m)
        down = not down
        stop.wait(period_s)
    for m in g.members:
        system.heal(m)


def flapping(system: ChaosSystem, period_s: float, duration_s: float, progress: Progress = quiet) -> TrialResult:
    result = TrialResult(f"4. flapping primary ({period_s:g} s for {duration_s:g} s)", 1)
    g = system.groups[0]
    seq0 = system.last_seq()
    stop = threading.Event()
    flapper = threading.Thread(target=_flap, args=(system, period_s, duration_s, stop), daemon=True)
    flapper.start()
    try:
        flapper.join(duration_s + 30)
    finally:
        stop.set()
        flapper.join(10)
    recs = system.records(g.name)
    attaches = sum(1 for e in system.events(seq0) if e.get("id") == g.eni and e.get("to") == "Attaching")
    result.check(len(recs) <= 1, f"{len(recs)} failovers while flapping (at most 1 allowed)")
    result.check(attaches <= 1, f"{attaches} attaches while flapping")
    status = _status(system)
    group = status["groups"][0] if status else {}
    blocked = group.get("state") == "blocked"
    result.check(blocked, f"group not blocked after flapping: {group.get('state')} "
                          f"({group.get('blocked_reason')})")
    progress(f"trial 4: {len(recs)} failover(s); group {group.get('state')}: {group.get('blocked_reason')}")
    ack = system.f.cli("ack", g.name)
    result.check(ack.returncode == 0 and "unblocked" in ack.stdout,
                 f"ack: exit {ack.returncode}: {ack.stdout}{ack.stderr}")
    unblocked = _wait(lambda: (s := _status(system)) is not None and s["groups"][0]["state"] != "blocked", 20)
    result.check(unblocked, "group still blocked after ack")
    # Armed again: a real failure of the holder now fails over.
    holder = system.holder_of(g)
    if holder is not None and unblocked:
        try:
            out = fail_and_wait(system, g, timeout=60)
            judge(result, "after ack", out, system.other(g, holder))
            restore(system, holder)
        except AssertionError as e:
            result.fail(f"after ack: {str(e).splitlines()[0]}")
    result.figures = {"failovers_while_flapping": len(recs), "attaches_while_flapping": attaches,
                      "blocked": blocked, "blocked_reason": group.get("blocked_reason"),
                      "period_s": period_s, "duration_s": duration_s}
    return result.done()


def _status(system: ChaosSystem) -> dict[str, Any] | None:
    out = system.f.cli("status", "--json")
    return json.loads(out.stdout) if out.returncode == 0 else None


def _wait(predicate: Any, timeout: float) -> bool:
    try:
        wait_for(predicate, timeout, "condition")
    except AssertionError:
        return False
    return True


# ------------------------------------------------------------------ trial 6


def hung_primary(system: ChaosSystem, runs: int, progress: Progress = quiet) -> TrialResult:
    result = TrialResult("6. hung primary, detach stalls: force-stop escalation", runs)
    g = system.groups[0]
    for i in range(runs):
        src = system.holder_of(g)
        if src is None:
            result.fail(f"run {i}: the ENI has no holder")
            break
        dst = system.other(g, src)
        seq0 = system.last_seq()
        system.s.control.hang(src)
        try:
            out = fail_and_wait(system, g, timeout=60)
        except AssertionError as e:
            result.fail(f"run {i}: {str(e).splitlines()[0]}")
            break
        judge(result, f"run {i}", out, dst)
        steps = [(s["name"], s["status"]) for s in out.record["steps"]]
        result.check(("fence", "ok") in steps, f"run {i}: no fence step in {steps}")
        inst = system.s.control.instance(src)
        result.check(inst["status"] == "Stopped", f"run {i}: old holder {src} is {inst['status']}")
        result.check(instance_stops(system.events(seq0), src) == 1, f"run {i}: {src} not stopped once")
        # The old holder comes back (an operator starts it): it must not get the ENI again.
        seq1 = system.last_seq()
        system.s.control.start(src)
        def running(src: str = src) -> bool:
            return bool(system.s.control.instance(src)["status"] == "Running")

        def released(seq1: int = seq1, src: str = src) -> bool:
            return invocations_by_instance(system.events(seq1), "release")[src] >= 1

        wait_for(running, 30, f"{src} running")
        try:
            restore(system, src)
        except AssertionError as e:
            result.fail(f"run {i}: not steady afterwards: {str(e).splitlines()[0]}")
            break
        wait_for(released, 30, f"the release script on {src}", system.diag)
        result.check(system.holder_of(g) == dst, f"run {i}: the ENI left {dst} after {src} came back")
        progress(f"trial 6 run {i + 1}/{runs}: steps {steps}; {src} {inst['status']}")
    return result.done()
