"""`failover lab bench` end to end: tools checked, one lab, every part, one JSON, one chart.

The JSON follows DESIGN.md (`{"failover": {mode: {median_s, p90_s, trials}}, "keepalived":
{...}, "settings": {...}}`: row (1) of the matrix, product defaults against keepalived's) and
adds `matrix` (every row, each naming both sides' settings: see matrix.py), `ratio` and `goal`
of row (1), and `realistic` (parts.py). `benchmarks/report.py` turns it into the README's table.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from failover.lab import analysis, bench, chart, netns, parts, render, stability
from failover.lab.runtime import Lab
from failover.lab.sides import FailoverSide

GOAL_RTO_S = 1.0
# What each part needs on this host, and the Debian package that brings it.
TOOLS = {
    "zookeeper": ("/usr/share/java/zookeeper.jar", "zookeeper"),
    "java": ("/usr/bin/java", "default-jre-headless"),
    "ip": ("/usr/sbin/ip", "iproute2"),
    "keepalived": ("/usr/sbin/keepalived", "keepalived"),
    "curl": ("/usr/bin/curl", "curl"),
    "iptables-legacy": ("/usr/sbin/iptables-legacy", "iptables"),
}
KEEPALIVED_PARTS = {"rto", "window", "noise"}


def needed_tools(opts: bench.BenchOptions) -> list[str]:
    tools = ["zookeeper", "java", "ip"]
    if opts.keepalived and KEEPALIVED_PARTS & set(opts.parts):
        tools += ["keepalived", "curl"]  # curl: keepalived's vrrp_script
    if "noise" in opts.parts:
        tools.append("iptables-legacy")
    return tools


def missing_tools(opts: bench.BenchOptions, exists: Callable[[str], bool] = os.path.exists) -> list[str]:
    """`path (Debian package pkg)` for each tool the chosen parts need and this host lacks."""
    return [f"{TOOLS[t][0]} (Debian package {TOOLS[t][1]})" for t in needed_tools(opts)
            if not exists(TOOLS[t][0])]


def run_bench(opts: bench.BenchOptions, say: bench.Say, prefix: str | None = None,
              keep: bool = False) -> dict[str, Any]:
    missing = missing_tools(opts)
    if missing:
        raise netns.LabError("missing before anything started: " + "; ".join(missing))
    lab = Lab(prefix, health=render.product_health())
    lab.cloud = {"poll_dense_s": render.product_poll_dense_s()}
    started = time.time()
    say(f"lab {lab.prefix}: bringing it up")
    try:
        lab.up()
        result = _parts(lab, opts, say)
        result["settings"] = settings(lab, opts, time.time() - started)
        return result
    finally:
        if keep:
            say(f"lab {lab.prefix} kept: `failover lab down --prefix {lab.prefix}` removes it")
        else:
            lab.down()


def _parts(lab: Lab, opts: bench.BenchOptions, say: bench.Say) -> dict[str, Any]:
    say("controller (failover): waiting for a healthy group")
    FailoverSide(lab).wait_ready(60.0)
    result: dict[str, Any] = {"matrix": []}
    for name in bench.PARTS:
        if name in opts.parts:
            parts.RUNNERS[name](lab, opts, say, result)
    result.update(assemble(result.get("failover") or {}, result.get("keepalived") or {}))
    trace = result.pop("_trace", None)
    if isinstance(trace, bench.Trace):
        png = opts.out_dir / "rto_timeline.png"
        why = chart.render(png, trace.answers, trace.injected_at, trace.entry, trace.old, trace.new,
                           f"One crash failover in the lab at the product's defaults: the client's answers "
                           f"({trace.old} -> {trace.new}, RTO {_rto_of(trace):.3f} s)")
        result["chart"] = str(png) if why is None else why
    return result


def _rto_of(trace: bench.Trace) -> float:
    o = analysis.outage(trace.answers, trace.old, trace.new, trace.injected_at)
    return o.rto_s or 0.0


def settings(lab: Lab, opts: bench.BenchOptions, elapsed_s: float) -> dict[str, Any]:
    return {
        "parts": list(opts.parts),
        "runs": opts.runs, "modes": list(opts.modes), "client_period_s": bench.PERIOD_S,
        "api_latency_s": lab.api_latency_s, "checks": ["http /healthz", "ecs_status"],
        "controllers": len(lab.spec.controllers), "noise_s": opts.noise_s, "loss": opts.loss,
        "realistic": {"runs_per_seed": opts.realistic_runs, "seeds": list(opts.seeds),
                      "time_scale": opts.time_scale},
        "per_row_settings": "matrix[].ours.settings / matrix[].keepalived.settings",
        "rto_definition": "client: last answer by the old holder -> first answer by the new holder",
        "host": {"kernel": platform.release(), "python": platform.python_version(),
                 "cpus": os.cpu_count() or 0, "load_avg": [round(x, 2) for x in os.getloadavg()]},
        "elapsed_s": round(elapsed_s, 1),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def assemble(ours: dict[str, Any], ka: dict[str, Any]) -> dict[str, Any]:
    """Row (1)'s ratio (ours / keepalived's median) and goals per mode."""
    ratio: dict[str, Any] = {}
    goal: dict[str, Any] = {}
    for mode, s in ours.items():
        m = s.get("median_s")
        if mode in ka and ka[mode].get("median_s") is not None:
            ratio[mode] = {"vs_keepalived": analysis.ratio(m, ka[mode].get("median_s"))}
        if m is not None:
            r = (ratio.get(mode) or {}).get("vs_keepalived")
            goal[mode] = {"rto_at_most_1s": m <= GOAL_RTO_S,
                          "at_most_half_of_keepalived": None if r is None else r <= 0.5}
        elif mode == "partition":
            goal[mode] = {"no_failover": s.get("ok") == s.get("runs")}
    return {"ratio": ratio, "goal": goal}


def write(result: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / stability.result_name(result)
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path


def table(result: dict[str, Any]) -> list[str]:
    """The lines a human reads: each matrix row with both sides' settings."""
    lines: list[str] = []
    for row in result.get("matrix") or []:
        lines.append(f"({row['n']}) {row['title']}")
        lines.append(f"    ours: {_settings(row['ours']['settings'])}")
        lines.append(f"    keepalived: {_settings(row['keepalived']['settings'])}")
        rto = row.get("rto") or {}
        for mode, s in (rto.get("failover") or {}).items():
            ka = (rto.get("keepalived") or {}).get(mode) or {}
            ours = f"{s.get('ok')}/{s.get('runs')} held" if mode == "partition" else _fmt(s)
            lines.append(f"    {mode:10} ours {ours:>14}   keepalived {_fmt(ka):>14}")
        quiet = row.get("noise")
        if quiet:
            st = quiet["settings"]
            lines.append(f"    noise {st['duration_s']:g}s, {st['loss_each_way']:.0%} loss: false failovers "
                         f"ours {quiet['failover']['false_failovers']}, keepalived "
                         f"{quiet['keepalived']['false_failovers']}")
    return lines


def parts_table(result: dict[str, Any]) -> list[str]:
    """The stability and realistic parts' lines, when they ran."""
    lines = stability.table(result.get("stability"))
    real = result.get("realistic")
    if not real:
        return lines
    pooled = real["pooled"]
    lines += [f"realistic timing at the product's defaults: client RTO p50 {pooled.get('median_s')}s, "
             f"p90 {pooled.get('p90_s')}s over {pooled.get('runs')} crashes; "
             f"{real.get('within_limit')} with controller overhead <= {real['slack_s']:g} s"]
    for seed, s in real["seeds"].items():
        lines.append(f"  seed {seed}: p50 {s.get('median_s')}s, p90 {s.get('p90_s')}s "
                     f"({s.get('ok')}/{s.get('runs')})")
    b = pooled.get("breakdown_median_s") or {}
    if b:
        lines.append("  median breakdown: " + ", ".join(f"{k} {v}" for k, v in b.items()))
    return lines


def _settings(s: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in s.items())


def _fmt(s: dict[str, Any]) -> str:
    if not s:
        return "-"
    if s.get("applicable") is False:
        return "n/a"
    m, p = s.get("median_s"), s.get("p90_s")
    return "-" if m is None else f"{m:.3f}/{p:.3f}s"
