"""`failover lab bench` end to end: one lab, the controller then keepalived, one JSON, one chart.

The JSON follows DESIGN.md (`{"failover": {mode: {median_s, p90_s, trials}}, "keepalived":
{...}, "settings": {...}}`) and adds `keepalived_fast` (the fastest stable advert_int), `ratio`
(ours / keepalived's, per mode) and `goal` (the issue's targets, met or not); then, per
`--parts`, `equal_window` (ours at keepalived's detection window), `noise` (false failovers of
both under loss and CPU hogs) and `realistic` (RTO and its breakdown under cloud-like timing).
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

from failover.lab import analysis, bench, chart, netns, noise, parts, stability
from failover.lab.keepalived import VrrpSettings
from failover.lab.runtime import Lab
from failover.lab.sides import FailoverSide

GOAL_RTO_S = 1.0


def run_bench(opts: bench.BenchOptions, say: bench.Say, prefix: str | None = None,
              keep: bool = False) -> dict[str, Any]:
    lab = Lab(prefix)
    started = time.time()
    say(f"lab {lab.prefix}: bringing it up")
    try:
        lab.up()
        result = _parts(lab, opts, say)
        result["settings"] = settings(lab, opts, result["settings"].get("fast"), time.time() - started)
        return result
    finally:
        if keep:
            say(f"lab {lab.prefix} kept: `failover lab down --prefix {lab.prefix}` removes it")
        else:
            lab.down()


def _parts(lab: Lab, opts: bench.BenchOptions, say: bench.Say) -> dict[str, Any]:
    side = FailoverSide(lab)
    say("controller (failover): waiting for a healthy group")
    side.wait_ready(60.0)
    ours: dict[str, Any] = {}
    trace = None
    if "rto" in opts.parts:
        ours, trace = bench.run_side(lab, side, opts, say)
    ka: dict[str, Any] = {}
    ka_fast: dict[str, Any] = {}
    fast = opts.fast_advert
    if opts.keepalived and {"rto", "window"} & set(opts.parts):
        say("keepalived: advert_int 1 (its default)")
        ka = bench.run_keepalived(lab, VrrpSettings(1.0), opts, say)
    if opts.keepalived and "rto" in opts.parts:
        if fast is None:
            say("keepalived: looking for the fastest stable advert_int")
            fast = bench.fastest_stable_advert(lab, say)
        say(f"keepalived: advert_int {fast:g} (fastest stable)")
        try:
            ka_fast = bench.run_keepalived(lab, VrrpSettings(fast, fall=1, rise=1), opts, say)
        except netns.LabError as e:
            say(f"keepalived advert_int {fast:g}: failed ({str(e)[:150]}); reported as such")
            ka_fast = {"error": str(e)[:300]}
    result = assemble(ours, ka, ka_fast, {"fast": fast})
    if trace is not None:
        png = opts.out_dir / "rto_timeline.png"
        why = chart.render(png, trace.answers, trace.injected_at, trace.entry, trace.old, trace.new,
                           f"One crash failover in the lab: the client's answers "
                           f"({trace.old} -> {trace.new}, RTO "
                           f"{_rto_of(trace):.3f} s)")
        result["chart"] = str(png) if why is None else why
    if "window" in opts.parts:
        result["equal_window"] = parts.equal_window(lab, opts, ka, say)
    if "noise" in opts.parts:
        result["noise"] = noise.run_noise(lab, noise.NoiseOptions(opts.noise_s, opts.loss), say)
    if "realistic" in opts.parts:
        result["realistic"] = parts.realistic(lab, opts.realistic_runs, opts.time_scale, opts.seed,
                                              "raw", say)
    if "stability" in opts.parts:
        result["stability"] = stability.run_stability(lab, stability.StabilityOptions(
            opts.stability_trials, opts.stability_watch_s, opts.old_guest_routes), say)
    return result


def _rto_of(trace: bench.Trace) -> float:
    o = analysis.outage(trace.answers, trace.old, trace.new, trace.injected_at)
    return o.rto_s or 0.0


def settings(lab: Lab, opts: bench.BenchOptions, fast: float | None, elapsed_s: float) -> dict[str, Any]:
    return {
        "parts": list(opts.parts),
        "runs": opts.runs, "modes": list(opts.modes), "client_period_s": bench.PERIOD_S,
        "health": lab.health, "api_latency_s": lab.api_latency_s, "checks": ["http /healthz", "ecs_status"],
        "controllers": len(lab.spec.controllers), "quorum": lab.health.get("quorum"),
        "keepalived": {"advert_int": 1.0, "fast_advert_int": fast, "script_interval_s": 1,
                       "fall": 3, "fast_fall": 1, "unicast": True, "vrrp_version": 3},
        "rto_definition": "client: last answer by the old holder -> first answer by the new holder",
        "host": {"kernel": platform.release(), "python": platform.python_version(),
                 "cpus": _cpus()},
        "elapsed_s": round(elapsed_s, 1),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


def assemble(ours: dict[str, Any], ka: dict[str, Any], ka_fast: dict[str, Any],
             sett: dict[str, Any]) -> dict[str, Any]:
    ratio: dict[str, Any] = {}
    goal: dict[str, Any] = {}
    for mode, s in ours.items():
        m = s.get("median_s")
        if mode in ka and ka[mode].get("median_s") is not None:
            ratio[mode] = {"vs_keepalived": analysis.ratio(m, ka[mode].get("median_s")),
                           "vs_keepalived_fast": analysis.ratio(m, (ka_fast.get(mode) or {}).get("median_s"))}
        if m is not None:
            r = (ratio.get(mode) or {}).get("vs_keepalived")
            goal[mode] = {"rto_at_most_1s": m <= GOAL_RTO_S,
                          "at_most_half_of_keepalived": None if r is None else r <= 0.5}
        elif mode == "partition":
            goal[mode] = {"no_failover": s.get("ok") == s.get("runs")}
    return {"failover": ours, "keepalived": ka, "keepalived_fast": ka_fast, "ratio": ratio,
            "goal": goal, "settings": sett}


def write(result: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / stability.result_name(result)
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path


def table(result: dict[str, Any]) -> list[str]:
    """The side-by-side lines a human reads."""
    if not result.get("failover"):
        return []
    lines = [f"{'mode':10} {'failover':>14} {'keepalived 1s':>14} {'keepalived fast':>16} {'ratio':>7}"]
    for mode, s in result["failover"].items():
        ka = (result.get("keepalived") or {}).get(mode) or {}
        kf = (result.get("keepalived_fast") or {}).get(mode) or {}
        r = ((result.get("ratio") or {}).get(mode) or {}).get("vs_keepalived")
        ours = f"{s.get('ok')}/{s.get('runs')} held" if mode == "partition" else _fmt(s)
        shown = "" if r is None else f"{r:.2f}"
        lines.append(f"{mode:10} {ours:>14} {_fmt(ka):>14} {_fmt(kf):>16} {shown:>7}")
    return lines


def parts_table(result: dict[str, Any]) -> list[str]:
    """The lines of the parts beyond the RTO table, when they ran."""
    lines: list[str] = []
    window = result.get("equal_window")
    if window:
        lines.append("at keepalived's window (interval 1 s, fall 3) vs keepalived advert_int 1:")
        for mode, c in window["compare"].items():
            lines.append(f"  {mode:8} ours {c['failover_median_s']}s, "
                         f"keepalived {c['keepalived_median_s']}s, delta {c['delta_s']}s "
                         f"(goal <= +0.1 s: {c['goal_met']})")
        fast = window.get("status_fast")
        for mode, c in (fast or {}).get("compare", {}).items():
            lines.append(f"  {mode:8} ours {c['failover_median_s']}s with ecs_status every "
                         f"{fast['ecs_status_interval_s']:g}s, delta {c['delta_s']}s "
                         f"(goal <= +0.1 s: {c['goal_met']})")
    quiet = result.get("noise")
    if quiet:
        st = quiet["settings"]
        lines.append(f"noise ({st['duration_s']:g}s, {st['loss_each_way']:.0%} loss each way, hogs "
                     f"{st['cpu_hogs']}): false failovers ours {quiet['failover']['false_failovers']}, "
                     f"keepalived {quiet['keepalived']['false_failovers']} (advert_int "
                     f"{st['keepalived']['advert_int']:g}); dropped {sum(quiet['dropped_packets'].values())}")
    lines += stability.table(result.get("stability"))
    real = result.get("realistic")
    if real:
        lines.append(f"realistic timing: RTO median {real.get('median_s')}s over {real.get('runs')} crashes, "
                     f"{real.get('within_limit')} within detection + emulated steps + 0.5 s; "
                     f"polling lag median {real.get('polling_lag_median_s')}s")
        b = real.get("breakdown_median_s") or {}
        if b:
            lines.append("  median breakdown: " + ", ".join(f"{k} {v}" for k, v in b.items()))
    return lines


def _fmt(s: dict[str, Any]) -> str:
    if not s:
        return "-"
    if s.get("applicable") is False:
        return "n/a"
    m, p = s.get("median_s"), s.get("p90_s")
    return "-" if m is None else f"{m:.3f}/{p:.3f}s"
