"""`failover lab bench` end to end: one lab, the controller then keepalived, one JSON, one chart.

The JSON follows DESIGN.md (`{"failover": {mode: {median_s, p90_s, trials}}, "keepalived":
{...}, "settings": {...}}`) and adds `keepalived_fast` (the fastest stable advert_int), `ratio`
(ours / keepalived's, per mode) and `goal` (the issue's targets, met or not).
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

from failover.lab import analysis, bench, chart, netns
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
        side = FailoverSide(lab)
        say("controller (failover): waiting for a healthy group")
        side.wait_ready(60.0)
        ours, trace = bench.run_side(lab, side, opts, say)
        ka: dict[str, Any] = {}
        ka_fast: dict[str, Any] = {}
        fast = opts.fast_advert
        if opts.keepalived:
            say("keepalived: advert_int 1 (its default)")
            ka = bench.run_keepalived(lab, VrrpSettings(1.0), opts, say)
            if fast is None:
                say("keepalived: looking for the fastest stable advert_int")
                fast = bench.fastest_stable_advert(lab, say)
            say(f"keepalived: advert_int {fast:g} (fastest stable)")
            try:
                ka_fast = bench.run_keepalived(lab, VrrpSettings(fast, fall=1, rise=1), opts, say)
            except netns.LabError as e:
                say(f"keepalived advert_int {fast:g}: failed ({str(e)[:150]}); reported as such")
                ka_fast = {"error": str(e)[:300]}
        result = assemble(ours, ka, ka_fast, settings(lab, opts, fast, time.time() - started))
        if trace is not None:
            png = opts.out_dir / "rto_timeline.png"
            why = chart.render(png, trace.answers, trace.injected_at, trace.entry, trace.old, trace.new,
                               f"One crash failover in the lab: the client's answers "
                               f"({trace.old} -> {trace.new}, RTO "
                               f"{_rto_of(trace):.3f} s)")
            result["chart"] = str(png) if why is None else why
        return result
    finally:
        if keep:
            say(f"lab {lab.prefix} kept: `failover lab down --prefix {lab.prefix}` removes it")
        else:
            lab.down()


def _rto_of(trace: bench.Trace) -> float:
    o = analysis.outage(trace.answers, trace.old, trace.new, trace.injected_at)
    return o.rto_s or 0.0


def settings(lab: Lab, opts: bench.BenchOptions, fast: float | None, elapsed_s: float) -> dict[str, Any]:
    return {
        "runs": opts.runs, "modes": list(opts.modes), "client_period_s": bench.PERIOD_S,
        "health": lab.health, "api_latency_s": lab.api_latency_s, "checks": ["http /healthz"],
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
    path = out_dir / "rto.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path


def table(result: dict[str, Any]) -> list[str]:
    """The side-by-side lines a human reads."""
    lines = [f"{'mode':10} {'failover':>14} {'keepalived 1s':>14} {'keepalived fast':>16} {'ratio':>7}"]
    for mode, s in result["failover"].items():
        ka = (result.get("keepalived") or {}).get(mode) or {}
        kf = (result.get("keepalived_fast") or {}).get(mode) or {}
        r = ((result.get("ratio") or {}).get(mode) or {}).get("vs_keepalived")
        ours = f"{s.get('ok')}/{s.get('runs')} held" if mode == "partition" else _fmt(s)
        shown = "" if r is None else f"{r:.2f}"
        lines.append(f"{mode:10} {ours:>14} {_fmt(ka):>14} {_fmt(kf):>16} {shown:>7}")
    return lines


def _fmt(s: dict[str, Any]) -> str:
    if not s:
        return "-"
    if s.get("applicable") is False:
        return "n/a"
    m, p = s.get("median_s"), s.get("p90_s")
    return "-" if m is None else f"{m:.3f}/{p:.3f}s"
