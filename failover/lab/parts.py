"""The bench's comparisons beyond its side-by-side RTO table.

- `equal_window`: the controller at keepalived's own detection window (interval = advert_int,
  fall 3), against keepalived's run at that advert_int in the same bench. A stopping keepalived
  tells its peer at once (a priority-0 advert); the controller has no agent on the instance and
  sees a stop only in the cloud's status, so `stop` runs once more with the ecs_status check on
  its own shorter cadence (`STATUS_FAST_S`): the network window unchanged, one batched
  DescribeInstanceStatus per round for the whole fleet.
- `realistic`: crash failovers while the emulator times attach, detach and Cloud Assistant like
  the cloud (`timing: {profile: realistic}`), with where the time went: detection, each step's
  emulated duration, the polling lag after it, guest, verify; RTO against detection + the
  emulated step times + 0.5 s.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from failover.lab import analysis, bench, measure, netns, render
from failover.lab.runtime import Lab
from failover.lab.sides import FailoverSide

WINDOW_ADVERT_S = 1.0  # keepalived's default advert_int: its window is ~3.6 of them
WINDOW_TIMEOUT_S = 0.25  # ours; keepalived's own check is `curl -m 0.5`, its crash path has none
WINDOW_GOAL_S = 0.1  # ours at most keepalived's + 100 ms
REALISTIC_SLACK_S = 0.5
# The product's default step timeouts (the lab's own are short, for a quick bench).
REALISTIC_POLICY = {"detach_timeout_s": 30, "attach_timeout_s": 30, "guest_timeout_s": 60,
                    "verify_timeout_s": 30}
WINDOW_MODES = ("crash", "hang", "stop")
STATUS_FAST_S = 0.25


def equal_window(lab: Lab, opts: bench.BenchOptions, keepalived: dict[str, Any],
                 say: bench.Say) -> dict[str, Any]:
    health = render.default_health(interval_s=WINDOW_ADVERT_S, timeout_s=WINDOW_TIMEOUT_S, fall=3, rise=2)
    modes = tuple(m for m in opts.modes if m in WINDOW_MODES)
    previous = dict(lab.health)
    say(f"controller at keepalived's window: interval {WINDOW_ADVERT_S:g}s, fall 3, "
        f"timeout {WINDOW_TIMEOUT_S:g}s")
    lab.restart_controllers(health=health)
    fast: dict[str, Any] = {}
    try:
        side = FailoverSide(lab)
        side.wait_ready(60.0)
        ours, _ = bench.run_side(lab, side, replace(opts, modes=modes), say)
        if "stop" in modes:
            say(f"  and stop with the ecs_status check every {STATUS_FAST_S:g}s")
            lab.restart_controllers(health=health, status_interval_s=STATUS_FAST_S)
            side = FailoverSide(lab)
            side.wait_ready(60.0)
            fast, _ = bench.run_side(lab, side, replace(opts, modes=("stop",)), say)
    finally:
        lab.restart_controllers(health=previous)
    out = {"health": health, "keepalived_advert_int": WINDOW_ADVERT_S, "failover": ours,
           "compare": compare_window(ours, keepalived)}
    if fast:
        out["status_fast"] = {"ecs_status_interval_s": STATUS_FAST_S, "failover": fast,
                              "compare": compare_window(fast, keepalived)}
    return out


def compare_window(ours: dict[str, Any], keepalived: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode, s in ours.items():
        m, k = s.get("median_s"), (keepalived.get(mode) or {}).get("median_s")
        delta = None if m is None or k is None else round(m - k, 4)
        out[mode] = {"failover_median_s": m, "keepalived_median_s": k, "delta_s": delta,
                     "goal_met": None if delta is None else delta <= WINDOW_GOAL_S}
    return out


def realistic(lab: Lab, runs: int, scale: float, seed: int, out_dir_name: str,
              say: bench.Say) -> dict[str, Any]:
    # Instance stop/start are not part of an ENI failover: instant, so each trial's restore
    # (the crashed instance back up) does not wait a drawn 20 s boot.
    timing = {"profile": "realistic", "seed": seed, "time_scale": scale, "stop_s": 0, "start_s": 0}
    say(f"realistic cloud timing (time_scale {scale:g}, seed {seed}): attach ~5 s, detach ~4 s median")
    # The product's own poll plans (the lab's dense 50 ms suits only its instant cloud).
    lab.restart_controllers(policy=REALISTIC_POLICY, cloud={"poll_dense_s": None})
    trials: list[dict[str, Any]] = []
    before = lab.sim("state").get("timing") or {"profile": "fixed"}
    try:
        if lab.sim("timing", timing).get("ok") is not True:
            raise netns.LabError("the emulator refused the realistic timing profile")
        side = FailoverSide(lab)
        side.wait_ready(60.0)
        for k in range(1, runs + 1):
            trials.append(_realistic_trial(lab, side, k, scale, out_dir_name))
            r = trials[-1]
            b = r.get("breakdown") or {}
            say(f"  realistic crash #{k:<2} RTO {r.get('rto_s')}s (journal {b.get('rto_s')}s, "
                f"limit {r.get('limit_s')}s): detach {b.get('detach_s')} + lag "
                f"{b.get('detach_polling_lag_s')}, attach {b.get('attach_s')} + lag "
                f"{b.get('attach_polling_lag_s')}" + (f" FAILED: {r['error']}" if r.get("error") else ""))
    finally:
        lab.sim("timing", before)
        lab.restart_controllers(policy={}, cloud={})
    out = analysis.summarize(trials)
    out["timing"] = timing
    out["within_limit"] = sum(1 for t in trials if t.get("within_limit"))
    lags = [t["breakdown"][k] for t in trials for k in ("detach_polling_lag_s", "attach_polling_lag_s")
            if k in (t.get("breakdown") or {})]
    out["polling_lag_median_s"] = analysis._r(analysis.median(lags))
    out["goal"] = {"rto_within_detection_plus_emulated_plus_0_5s": out["within_limit"] == len(trials),
                   "polling_lag_median_at_most_0_25s": bool(lags) and (analysis.median(lags) or 0) <= 0.25}
    return out


def _realistic_trial(lab: Lab, side: FailoverSide, k: int, scale: float, out_dir_name: str) -> dict[str, Any]:
    since = int(lab.sim("events?since=999999999999").get("last", 0))
    try:
        rec, trace = bench.trial(lab, side, "crash", k, lab.dir / out_dir_name, deadline_s=130 * scale + 30)
    except netns.LabError as e:
        side.recover()
        return {"trial": k, "ok": False, "error": str(e)[:300]}
    if trace is None or trace.entry is None:
        return {**rec, "ok": False, "error": "no journal entry for the failover"}
    if trace.entry.get("result") != "completed":
        steps = [(s.get("name"), s.get("duration_s"), s.get("error")) for s in trace.entry.get("steps") or []]
        return {**rec, "ok": False, "error": f"failover {trace.entry.get('result')}: {steps}"[:600]}
    events = lab.sim(f"events?since={since}").get("events") or []
    try:
        parts = measure.breakdown(trace.entry, events, lab.spec.eni.eni_id, trace.injected_at)
    except (KeyError, TypeError, ValueError) as e:
        return {**rec, "ok": False, "error": f"breakdown: {e}"}
    parts["command_s"] = measure.command_time(events, after=trace.injected_at)
    emulated = parts["detach_s"] + parts["attach_s"] + parts["command_s"]
    limit = parts["detection_s"] + emulated + REALISTIC_SLACK_S
    rec["breakdown"] = {name: round(v, 4) for name, v in parts.items()}
    rec["limit_s"] = round(limit, 4)
    rec["within_limit"] = parts["rto_s"] <= limit
    return rec
