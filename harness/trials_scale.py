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

The bound the goal is judged against is the larger of N / qps and the slowest
group's own emulated time (`emulated_floors`): on the fixed timing that is N / qps,
as before; under the realistic profile a group that draws a stuck detach cannot end
before the policy's detach timeout and the stop that frees it, whatever the
throttle, and a bound below that is one no controller could meet.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from failover.sim.registry import OPS
from harness.chaos import ChaosSystem, Group, Spec, trial_timing
from harness.chaos_events import RECORD_DONE, eni_moves, percentile, script_kind
from harness.outage_path import last_group_path
from harness.scale_measure import counter_by, scrape
from harness.trials import Progress, TrialResult, quiet
from harness.waiting import wait_for

GOAL_RATIO = 1.2


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


def _by_replica(system: ChaosSystem, name: str, label: str) -> dict[str, Counter[tuple[str, ...]]]:
    """One counter of each live replica's /metrics, by `label`."""
    return {cid: counter_by(scrape(r, name), name, label)
            for cid, r in system.f.replicas.items() if r.proc.poll() is None}


def api_calls(system: ChaosSystem) -> Counter[str]:
    """Cloud API calls per action, summed over the live replicas' metrics."""
    out: Counter[str] = Counter()
    for counts in _by_replica(system, "failover_cloud_api_calls_total", "action").values():
        for (action,), n in counts.items():
            out[action] += n
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
    floors = emulated_floors(events, system.groups, float(system.spec.policy["detach_timeout_s"]))
    throttled = _throttled(system)
    result.figures = outage_figures(qps, failed_at, recs, floors, trial_timing(system.spec.timing),
                                    calls, sum(throttled.values()))
    result.figures["throttled_by_replica_action"] = dict(sorted(throttled.items()))
    result.figures["last_group"] = last_group_path(events, system.groups, recs)
    span, bound = result.figures["span_s"], result.figures["lower_bound_s"]
    progress(f"trial 7: {n} groups in {span:.1f} s (bound {bound:.1f} s, ratio {span / bound:.2f})")
    return result.done()


def outage_figures(qps: int, failed_at: float, recs: dict[str, dict[str, Any]],
                   floors: dict[str, float], timing: dict[str, Any], calls: Counter[str],
                   throttled: int) -> dict[str, Any]:
    """A zone outage's figures from its groups' last journal records (`recs`), the cloud's own
    time per group (`floors`), the emulator's timing, the calls made and the throttled ones:
    trial 7's and the whole-replica benchmark's (`harness/scale_outage.py`) alike."""
    n = len(recs)
    started = min(float(r["started_at"]) for r in recs.values())
    finished = max(float(r["finished_at"]) for r in recs.values())
    span = finished - started
    throughput_bound = n / qps
    # No controller ends a group before the cloud's own transitions of it do: under the
    # realistic profile one group in 50 draws a detach that only a stop ends (after the
    # policy's detach timeout), so n / qps alone is a bound no controller could meet.
    slowest = max(floors.values(), default=0.0)
    bound = max(throughput_bound, slowest)
    # The last group's detach cannot go out before n / qps; its own emulated steps follow
    # (the fixed timing's, else the median group's as the emulator drew them).
    steps_s = (sum(float(timing.get(k, 0.0)) for k in ("detach_s", "attach_s", "command_s"))
               if "attach_s" in timing else percentile(list(floors.values()), 0.5) or 0.0)
    busiest = max(calls.items(), key=lambda kv: kv[1]) if calls else ("-", 0)
    return {
        "groups": n, "qps_per_action": qps,
        "detection_s": round(started - failed_at, 2),
        "span_s": round(span, 2), "total_s": round(finished - failed_at, 2),
        "lower_bound_s": round(bound, 2), "ratio": round(span / bound, 2),
        "throughput_bound_s": round(throughput_bound, 2),
        "slowest_group_emulated_s": round(slowest, 2),
        "emulated_per_group_p50_s": round(percentile(list(floors.values()), 0.5) or 0.0, 2),
        "bound_plus_step_times_s": round(throughput_bound + steps_s, 2),
        "ratio_to_bound_plus_step_times": round(span / (throughput_bound + steps_s), 2),
        "goal_ratio": GOAL_RATIO, "goal_met": span / bound <= GOAL_RATIO,
        "calls_per_failover": {a: round(c / n, 1) for a, c in sorted(calls.items())},
        "busiest_action": busiest[0],
        "as_called_bound_s": round(busiest[1] / qps, 2),
        "ratio_to_as_called_bound": round(span / (busiest[1] / qps), 2) if busiest[1] else None,
        "throttled_calls": throttled,
        "steps_first_start_last_end_s": _timeline(recs.values(), started),
    }


def emulated_floors(events: list[dict[str, Any]], groups: list[Group], detach_timeout_s: float) -> dict[str, float]:
    """Per group, the seconds the cloud itself spent moving it, from the event log: its ENI's
    Detaching and Attaching stretches and its configure commands' runs (created to done). The
    controller's own waits between them are not counted, so each is a floor no controller can
    beat. A detach still Detaching after the policy's `detach_timeout_s` (stuck: only a stop
    ends it) counts as that timeout plus its holder's emulated stop, not as the stretch seen,
    which would also hold however long the controller took to escalate."""
    eni_group = {g.eni: g.name for g in groups}
    member_group = {m: g.name for g in groups for m in g.members}
    out = dict.fromkeys(eni_group.values(), 0.0)
    moving: dict[str, tuple[float, str, str]] = {}  # ENI -> (began, to, instance)
    detaches: list[tuple[str, float, float, str]] = []  # (group, began, ended, instance)
    stops: dict[str, list[tuple[float, float]]] = {}  # instance -> its Stopping..Stopped stretches
    stopping: dict[str, float] = {}
    created: dict[str, float] = {}  # configure invocation -> when it was created
    for e in events:
        kind, rid, t = e.get("kind"), str(e.get("id")), float(e["t"])
        if kind == "enis" and rid in eni_group:
            began = moving.pop(rid, None)
            if began is not None and began[1] == "Detaching":
                detaches.append((eni_group[rid], began[0], t, began[2]))
            elif began is not None:
                out[eni_group[rid]] += t - began[0]
            if e.get("to") in ("Detaching", "Attaching"):
                moving[rid] = (t, str(e.get("to")), str(e.get("instance")))
        elif kind == "instances":
            if e.get("to") == "Stopping":
                stopping[rid] = t
            elif e.get("to") == "Stopped" and rid in stopping:
                stops.setdefault(rid, []).append((stopping.pop(rid), t))
        elif kind == "invocations" and e.get("to") == "Created" and script_kind(e) == "configure":
            created[rid] = t
        elif kind == "records" and e.get("to") in RECORD_DONE:
            invoke, _, instance = rid.partition("/")
            if invoke in created and instance in member_group:
                out[member_group[instance]] += t - created[invoke]
    for group, started, ended, instance in detaches:
        if ended - started <= detach_timeout_s:
            out[group] += ended - started
        else:
            stop = next((b - a for a, b in stops.get(instance, []) if started <= a <= ended), 0.0)
            out[group] += detach_timeout_s + stop
    return out


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
            "throttled_per_run": [r.figures["throttled_calls"] for r in runs if "ratio" in r.figures],
            "throttled_by_replica_action_per_run": [r.figures.get("throttled_by_replica_action", {})
                                                    for r in runs if "ratio" in r.figures],
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


def _throttled(system: ChaosSystem) -> Counter[str]:
    """Each live replica's refused calls since it started, by replica and action."""
    out: Counter[str] = Counter()
    for cid, counts in _by_replica(system, "failover_cloud_api_throttled_total", "action").items():
        for (action,), n in counts.items():
            if n > 0:
                out[f"{cid} {action}"] += n
    return out
