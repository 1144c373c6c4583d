"""Trial 7: a zone outage. N groups lose their holder at once while the emulator throttles every
action at `qps` per second (its gateway answers `Throttling.User` beyond that).

Every failover needs at least one DetachNetworkInterface, one
AttachNetworkInterface and one RunCommand, each limited to `qps` calls per
second, so no controller can finish N failovers in less than N / qps seconds
(reads could be batched, mutations cannot). The figure is the span from the
first failover's start to the last one's end against that bound (goal: at
most 1.2 times it), next to the bound the controller's own calls imply
(the busiest action's call count / qps), read from its metrics, and the bound
plus the emulated detach, attach and command times the last group must still
wait after its detach goes out.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

from failover.sim.registry import OPS
from harness.chaos import ChaosSystem, Spec
from harness.chaos_events import eni_moves
from harness.trials import Progress, TrialResult, quiet
from harness.waiting import wait_for

GOAL_RATIO = 1.2
_CALLS = re.compile(r'^failover_cloud_api_calls_total\{action="([^"]+)",code="([^"]+)"\} ([0-9.e+]+)$')


def outage_spec(groups: int, qps: int) -> Spec:
    return Spec(
        groups=groups,
        controller={"max_parallel_failovers": min(256, max(16, groups)), "tick_s": 0.1},
        # The account allows qps calls per action per second: so may our budget, all at once.
        cloud={"api_rate_per_s": qps, "api_burst": qps},
        health={"interval_s": 0.5, "timeout_s": 0.3},
        # The product's default step timeouts: a throttled step waits its turn for tokens.
        # Every replica's standby-readiness round (a read of every group) falls inside the
        # outage at least twice: the account's limit is shared by all of them.
        policy={"detach_timeout_s": 30, "attach_timeout_s": 30, "guest_timeout_s": 60,
                "verify_timeout_s": 30, "readiness_interval_s": 5},
    )


def api_calls(system: ChaosSystem) -> Counter[str]:
    """Cloud API calls per action, summed over the live replicas' metrics."""
    out: Counter[str] = Counter()
    for r in system.f.replicas.values():
        if r.proc.poll() is not None:
            continue
        code, body = r.get("/metrics")
        if code != 200:
            continue
        for line in body.splitlines():
            m = _CALLS.match(line)
            if m:
                out[m.group(1)] += int(float(m.group(3)))
    return out


def _finished(system: ChaosSystem) -> dict[str, dict[str, Any]] | None:
    out = {}
    for g in system.groups:
        recs = system.records_or_none(g.name)
        if not recs or recs[-1]["result"] == "running":
            return None
        out[g.name] = recs[-1]
    return out


def zone_outage(system: ChaosSystem, qps: int, progress: Progress = quiet) -> TrialResult:
    n = len(system.groups)
    result = TrialResult(f"7. zone outage: {n} groups at {qps} QPS per action", 1)
    actions = sorted({a for (_v, a) in OPS})
    for a in actions:
        system.s.control.qps(a, qps)
    seq0 = system.last_seq()
    calls0 = api_calls(system)
    failed_at = time.time()
    for instance in system.ips:
        if instance.startswith("i-a"):
            system.fail(instance)
    limit = 120 + 20 * n / qps
    t0 = time.monotonic()

    def all_done() -> dict[str, dict[str, Any]] | None:
        done = _finished(system)
        if done is None and time.monotonic() - t0 > 10:
            held = system.holders()
            moved = sum(1 for g in system.groups if held.get(g.eni) == ("InUse", g.members[1]))
            progress(f"trial 7: {moved}/{n} ENIs on their standby")
            time.sleep(2)
        return done

    try:
        recs = wait_for(all_done, limit, f"{n} finished failovers", system.diag)
    except AssertionError as e:
        result.fail(str(e).splitlines()[0])
        return result.done()
    finally:
        for a in actions:
            system.s.control.qps(a, None)
    calls = api_calls(system) - calls0
    events = system.events(seq0)
    incomplete = [name for name, r in recs.items() if r["result"] != "completed"]
    result.check(not incomplete, f"{len(incomplete)} failovers not completed: {incomplete[:5]}")
    twice = [g.eni for g in system.groups if not eni_moves(events, g.eni).moved_once]
    result.check(not twice, f"ENIs not moved exactly once: {twice[:5]}")
    extra = {g.name: system.records(g.name) for g in system.groups if len(system.records(g.name)) != 1}
    why = Counter(str(r.get("error") or "")[:60] for recs in extra.values() for r in recs if r["result"] == "failed")
    result.check(not extra, f"{len(extra)} groups needed more than one failover; failed attempts by error: "
                            f"{dict(why.most_common(4))}")
    started = min(float(r["started_at"]) for r in recs.values())
    finished = max(float(r["finished_at"]) for r in recs.values())
    span = finished - started
    bound = n / qps
    # The last group's detach cannot go out before the bound; its own emulated steps follow.
    steps_s = sum(float(system.spec.timing.get(k, 0.0)) for k in ("detach_s", "attach_s", "command_s"))
    busiest = max(calls.items(), key=lambda kv: kv[1]) if calls else ("-", 0)
    result.figures = {
        "groups": n, "qps_per_action": qps,
        "detection_s": round(started - failed_at, 2),
        "span_s": round(span, 2), "total_s": round(finished - failed_at, 2),
        "lower_bound_s": round(bound, 2), "ratio": round(span / bound, 2),
        "bound_plus_step_times_s": round(bound + steps_s, 2),
        "ratio_to_bound_plus_step_times": round(span / (bound + steps_s), 2),
        "goal_ratio": GOAL_RATIO, "goal_met": span / bound <= GOAL_RATIO,
        "calls_per_failover": {a: round(c / n, 1) for a, c in sorted(calls.items())},
        "busiest_action": busiest[0],
        "as_called_bound_s": round(busiest[1] / qps, 2),
        "ratio_to_as_called_bound": round(span / (busiest[1] / qps), 2) if busiest[1] else None,
        "throttled_calls": _throttled(system),
        "steps_first_start_last_end_s": _timeline(recs.values(), started),
    }
    progress(f"trial 7: {n} groups in {span:.1f} s (bound {bound:.1f} s, ratio {span / bound:.2f})")
    return result.done()


def combined(runs: list[TrialResult]) -> TrialResult:
    """Several outages (each on a fresh system) as one row: the median run's figures, every
    run's ratio, and how many met the goal. One run is one draw of the machine's jitter."""
    out = TrialResult(runs[0].trial, len(runs))
    out.failures = [f"run {i + 1}: {f}" for i, r in enumerate(runs) for f in r.failures]
    measured = sorted((r for r in runs if "ratio" in r.figures), key=lambda r: r.figures["ratio"])
    if measured:
        out.figures = dict(measured[(len(measured) - 1) // 2].figures)
        ratios = [r.figures["ratio"] for r in runs if "ratio" in r.figures]
        out.figures.update({
            "figures_of": "the median run (by ratio)",
            "ratio_per_run": ratios,
            "goal_met_runs": f"{sum(x <= GOAL_RATIO for x in ratios)}/{len(runs)}",
            "goal_met": sum(x <= GOAL_RATIO for x in ratios) * 2 > len(runs),
        })
    out.elapsed_s = round(sum(r.elapsed_s for r in runs), 1)
    return out


def _timeline(recs: Any, t0: float) -> dict[str, str]:
    """Per step, when the first one started and the last one ended (s after the first failover
    began): where a pipeline of N failovers waits."""
    spans: dict[str, list[float]] = {}
    for r in recs:
        for s in r.get("steps") or []:
            if s.get("started_at") is None or s.get("duration_s") is None:
                continue
            start = float(s["started_at"]) - t0
            lo_hi = spans.setdefault(s["name"], [start, start + float(s["duration_s"])])
            lo_hi[0] = min(lo_hi[0], start)
            lo_hi[1] = max(lo_hi[1], start + float(s["duration_s"]))
    return {name: f"{lo:.2f}-{hi:.2f}" for name, (lo, hi) in spans.items()}


def _throttled(system: ChaosSystem) -> int:
    total = 0
    for r in system.f.replicas.values():
        if r.proc.poll() is None:
            code, body = r.get("/metrics")
            for line in body.splitlines() if code == 200 else []:
                if line.startswith("failover_cloud_api_throttled_total{"):
                    total += int(float(line.rsplit(" ", 1)[1]))
    return total
