"""The bench's parts: each a function that adds its figures to the result, run in `PARTS` order.

- `rto`: row (1) of the matrix, product defaults vs keepalived defaults, every failure mode
  (the partition too); its figures are also the top-level `failover` / `keepalived` of
  rto.json (DESIGN.md's shape).
- `window`: rows (2), equal detection windows at 0.5 s and 0.2 s (1 s is row (1)), and (1'),
  a stop at the defaults with the ecs_status check every 0.25 s, and (1''), the same stop told
  by the member's signed stop notice (pre-staged unit); see matrix.py.
- `noise`: (3), false failovers under loss and CPU hogs at each of those same settings.
- `realistic`: (4), crash failovers at the product's defaults while the emulator times attach,
  detach and Cloud Assistant like the cloud (`timing: {profile: realistic}`), over several
  seeds, with where the time went. The client's RTO includes the emulated Cloud Assistant time
  (the emulator runs the script when its drawn duration is over). The bound "RTO <= detection
  + emulated steps + 0.5 s" uses the emulator's own draws and the journal: it checks only that
  the controller's own overhead stays under 0.5 s, and is reported next to the absolute RTO.
  It runs twice on the same seeds (each seed's draws start afresh): once with the guest step
  over RunCommand (`guest.prestage: false`, the top-level figures, as before), once with the
  pre-staged guest configuration (`failover provision` stages both members; the emulator runs
  the staged trigger its drawn `hotplug` time after InUse): `guest_paths` has both.

A new part is a function `(lab, opts, say, result) -> None` added to `RUNNERS` (and its name
to `bench.PARTS`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from failover.config.models import PolicyConfig
from failover.lab import analysis, bench, matrix, measure, netns, stability
from failover.lab.runtime import Lab
from failover.lab.sides import FailoverSide
from failover.sim.realistic import DEFAULT_LAWS

REALISTIC_SLACK_S = 0.5
# The product's default step timeouts, read from the config model so the two cannot drift
# (the lab's own are short, for a quick bench; the realistic part must run the real ones).
REALISTIC_POLICY = {k: PolicyConfig.model_fields[k].default
                    for k in ("detach_timeout_s", "attach_timeout_s", "guest_timeout_s", "verify_timeout_s")}
# Where each emulated law comes from (failover/sim/realistic.py): none is a published measurement.
SOURCES = {
    "attach": "assumption: implied by Alibaba's own SDK waits; no published measurement",
    "detach": "assumption: implied by Alibaba's own SDK waits; no published measurement",
    "command": "assumption (Cloud Assistant delivery and run)",
    "hotplug": "assumption (PCI hot-plug, udev and the systemd unit; pre-staged path only)",
}

Runner = Callable[[Lab, bench.BenchOptions, bench.Say, dict[str, Any]], None]


def run_rto(lab: Lab, opts: bench.BenchOptions, say: bench.Say, result: dict[str, Any]) -> None:
    trace = matrix.run_rto(lab, matrix.DEFAULTS, opts, say, result)
    rto = matrix.row(result, matrix.DEFAULTS)["rto"]
    result["failover"], result["keepalived"] = rto["failover"], rto["keepalived"]
    if trace is not None:
        result["_trace"] = trace  # the chart's; taken out before the JSON is written


def run_window(lab: Lab, opts: bench.BenchOptions, say: bench.Say, result: dict[str, Any]) -> None:
    if "stop" in opts.modes:
        matrix.run_rto(lab, matrix.STATUS_FAST, opts, say, result)
        matrix.run_rto(lab, matrix.STOP_NOTICE, opts, say, result)
    for cfg in matrix.WINDOWS:
        modes = tuple(m for m in opts.modes if m != "partition")
        matrix.run_rto(lab, cfg, bench.replace_modes(opts, modes), say, result)


def run_noise(lab: Lab, opts: bench.BenchOptions, say: bench.Say, result: dict[str, Any]) -> None:
    for cfg in matrix.CONFIGS:
        matrix.run_noise(lab, cfg, opts, say, result)


def run_realistic(lab: Lab, opts: bench.BenchOptions, say: bench.Say, result: dict[str, Any]) -> None:
    result["realistic"] = realistic(lab, opts.realistic_runs, opts.time_scale, opts.seeds, "raw", say)


def run_stability(lab: Lab, opts: bench.BenchOptions, say: bench.Say, result: dict[str, Any]) -> None:
    result["stability"] = stability.run_stability(lab, stability.StabilityOptions(
        opts.stability_trials, opts.stability_watch_s, opts.old_guest_routes), say)


RUNNERS: dict[str, Runner] = {"rto": run_rto, "window": run_window, "noise": run_noise,
                              "realistic": run_realistic, "stability": run_stability}


def laws(scale: float) -> dict[str, Any]:
    out = {}
    for kind, source in SOURCES.items():
        law = DEFAULT_LAWS[kind]
        shown = vars(law) if hasattr(law, "median_s") else {"fixed_s": law}
        out[kind] = {**shown, "time_scale": scale, "source": source}
    return out


PRESTAGED = {"prestage": True}  # the product's default bound (guest.prestage_wait_s)


def realistic(lab: Lab, runs: int, scale: float, seeds: tuple[int, ...], out_dir_name: str,
              say: bench.Say) -> dict[str, Any]:
    """`runs` crash failovers per seed under the realistic profile, at the product's defaults,
    with the guest step over RunCommand, then on the same seeds with pre-staged configuration."""
    # Instance stop/start are not part of an ENI failover: instant, so each trial's restore
    # (the crashed instance back up) does not wait a drawn 20 s boot.
    before = lab.sim("state").get("timing") or {"profile": "fixed"}
    health = matrix.DEFAULTS.health()
    say(f"realistic cloud timing (time_scale {scale:g}, seeds {list(seeds)}), ours at the product's "
        f"defaults {health}: attach ~5 s, detach ~4 s, Cloud Assistant ~1 s median (assumed laws)")
    previous = dict(lab.health), dict(lab.policy), dict(lab.cloud), dict(lab.guest)
    paths: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    try:
        for path, guest in (("runcommand", {}), ("prestaged", PRESTAGED)):
            # The product's own poll plans and step timeouts; an earlier part's staged triggers
            # must not serve the RunCommand path.
            lab.restart_with_guest(guest, health=health, policy=REALISTIC_POLICY,
                                   cloud={"poll_dense_s": None})
            say(f"  guest path {path}")
            paths[path] = _seeds(lab, runs, scale, seeds, out_dir_name, say, path)
    finally:
        lab.sim("timing", before)
        lab.restart_controllers(health=previous[0], policy=previous[1], cloud=previous[2],
                                guest=previous[3])
    per_seed, trials = paths["runcommand"]
    pooled = _summary(trials)
    return {"seeds": per_seed, "pooled": pooled, "within_limit": pooled["within_limit"],
            "guest_paths": {p: _path_summary(t) for p, (_, t) in paths.items()},
            "guest_paths_paired": _paired(paths["runcommand"][1], paths["prestaged"][1]),
            "guest_paths_by_seed": {p: s for p, (s, _) in paths.items()},
            "slack_s": REALISTIC_SLACK_S, "health": health, "time_scale": scale,
            "bound": "controller overhead at most 0.5 s: client RTO <= detection + the emulator's drawn "
                     "detach, attach and Cloud Assistant times + 0.5 s",
            "rto_definition": "client: last answer by the old holder -> first answer by the new; "
                              "includes the emulated Cloud Assistant time",
            "laws": laws(scale)}


def _seeds(lab: Lab, runs: int, scale: float, seeds: tuple[int, ...], out_dir_name: str, say: bench.Say,
           path: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    per_seed: dict[str, Any] = {}
    trials: list[dict[str, Any]] = []
    for seed in seeds:
        # A new profile each time: the seed's draws start afresh, so both paths meet the same ones.
        timing = {"profile": "realistic", "seed": seed, "time_scale": scale, "stop_s": 0, "start_s": 0}
        if lab.sim("timing", timing).get("ok") is not True:
            raise netns.LabError("the emulator refused the realistic timing profile")
        side = FailoverSide(lab)
        side.wait_ready(60.0)
        mine = [{**_said(_realistic_trial(lab, side, k, scale, out_dir_name), seed, k, say), "path": path}
                for k in range(1, runs + 1)]
        per_seed[str(seed)] = _summary(mine)
        trials += mine
    return per_seed, trials


def _path_summary(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """One guest path's client RTO (every emulated duration inside it), and what served it."""
    s = analysis.summarize(trials)
    served_by: dict[str, int] = {}
    for t in trials:
        how = str(t.get("guest_path") or "none")
        served_by[how] = served_by.get(how, 0) + 1
    return {"client_rto_p50_s": s["median_s"], "client_rto_p90_s": s["p90_s"], "trials": s["runs"],
            "ok": s["ok"], "guest_step_served_by": served_by,
            "detach_escalated": sum(1 for t in trials if t.get("detach_escalated")),
            "breakdown_median_s": s.get("breakdown_median_s", {})}


def _paired(runcommand: list[dict[str, Any]], prestaged: list[dict[str, Any]]) -> dict[str, Any]:
    """The same seed's k-th crash on both paths, where the emulator drew the same detach and attach
    times for both (a stalled detach shifts every later draw of that seed, so not all pairs do):
    what pre-staging saved of the client's RTO, trial against trial. A stalled detach ends when
    the controller's force-stop does, not at a drawn time: such a crash pairs with the other
    path's k-th crash of the same seed that also stalled, on the same attach draw."""
    def key(t: dict[str, Any]) -> tuple[Any, ...]:
        b = t.get("breakdown") or {}
        stalled = bool(t.get("detach_escalated"))
        return (t.get("seed"), t.get("trial"), stalled,
                None if stalled else round(b.get("detach_s", -1), 3), round(b.get("attach_s", -1), 3))

    before = {key(t): t for t in runcommand if t.get("ok") and t.get("rto_s") is not None}
    saved = [before[key(t)]["rto_s"] - t["rto_s"] for t in prestaged
             if t.get("ok") and t.get("rto_s") is not None and key(t) in before]
    stalled = sum(1 for t in prestaged if t.get("ok") and t.get("rto_s") is not None
                  and key(t) in before and t.get("detach_escalated"))
    return {"pairs": len(saved), "stalled_pairs": stalled,
            "client_rto_saved_p50_s": analysis._r(analysis.median(saved)),
            "client_rto_saved_min_s": analysis._r(min(saved) if saved else None),
            "client_rto_saved_max_s": analysis._r(max(saved) if saved else None),
            "what": "runcommand minus prestaged client RTO, per crash with identical detach and attach draws"}


def _summary(trials: list[dict[str, Any]]) -> dict[str, Any]:
    out = analysis.summarize(trials)
    out["within_limit"] = sum(1 for t in trials if t.get("within_limit"))
    lags = [t["breakdown"][k] for t in trials for k in ("detach_polling_lag_s", "attach_polling_lag_s")
            if k in (t.get("breakdown") or {})]
    out["polling_lag_median_s"] = analysis._r(analysis.median(lags))
    return out


def _said(r: dict[str, Any], seed: int, k: int, say: bench.Say) -> dict[str, Any]:
    b = r.get("breakdown") or {}
    say(f"  realistic seed {seed} crash #{k:<2} RTO {r.get('rto_s')}s (journal {b.get('rto_s')}s, "
        f"limit {r.get('limit_s')}s): detach {b.get('detach_s')} + lag {b.get('detach_polling_lag_s')}, "
        f"attach {b.get('attach_s')} + lag {b.get('attach_polling_lag_s')}, command {b.get('command_s')}"
        + (f" FAILED: {r['error']}" if r.get("error") else ""))
    return {**r, "seed": seed}


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
    guest: dict[str, Any] = next(
        (s for s in trace.entry.get("steps") or [] if s.get("name") == "guest"), {})
    rec["guest_path"] = guest.get("detail") or "runcommand"
    # a stalled detach, force-stopped: tens of seconds that have nothing to do with the guest step
    rec["detach_escalated"] = any(s.get("name") == "fence" for s in trace.entry.get("steps") or [])
    events = lab.sim(f"events?since={since}").get("events") or []
    try:
        parts = measure.breakdown(trace.entry, events, lab.spec.eni.eni_id, trace.injected_at)
    except (KeyError, TypeError, ValueError) as e:
        return {**rec, "ok": False, "error": f"breakdown: {e}"}
    parts["command_s"] = measure.command_time(events, after=trace.injected_at)
    parts["hotplug_s"] = measure.hotplug_time(events, lab.spec.eni.eni_id, after=trace.injected_at)
    emulated = parts["detach_s"] + parts["attach_s"] + parts["command_s"] + parts["hotplug_s"]
    limit = parts["detection_s"] + emulated + REALISTIC_SLACK_S
    rec["breakdown"] = {name: round(v, 4) for name, v in parts.items()}
    rec["limit_s"] = round(limit, 4)
    # The journal's end of the failover (verify done) against the emulated times: the
    # controller's own overhead. The client's RTO is reported next to it, not bounded by it.
    rec["within_limit"] = parts["rto_s"] <= limit
    return rec
