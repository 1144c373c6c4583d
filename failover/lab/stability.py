"""The bench's `stability` part: after a failover, does the new holder stay reachable and held?

With the VPC's source/destination check on (the switch, `vpcswitch.py`) and the primary NICs'
connected routes at metric 100 (as cloud images have), one trial crashes the holder, waits for
the client to be served by the other instance, brings the crashed one back, then watches the
new holder for `watch_s`: both controllers' namespaces probe its primary IP's `/healthz` from
the members' own subnet (the lab's client, one request per `PROBE_PERIOD_S`), and every
failover the journal records in the window is a false one.

`old_routes` runs the guest script with its earlier handling (`FAILOVER_OLD_ROUTES=1`: the ENI's
addresses with a metric-0 prefix route in main), which shows the failure this part guards
against: the probes' packets arrive on eth0, the reverse route now points at the ENI, strict
rp_filter drops them, and the controllers fail the healthy holder away.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from failover.lab import analysis, bench, netns, vpcswitch
from failover.lab.hooks import OLD_ROUTES_FLAG
from failover.lab.noise import _changes, _failovers_between
from failover.lab.runtime import PY, Lab
from failover.lab.sides import FailoverSide
from failover.lab.spec import HTTP_PORT

PROBE_PERIOD_S = 0.2  # the controllers' own health interval in the lab
PROBE_TIMEOUT_S = 0.5
SAMPLE_S = 0.5

Say = Callable[[str], None]


@dataclass(frozen=True)
class StabilityOptions:
    trials: int = 10
    watch_s: float = 60.0
    old_routes: bool = False


def run_stability(lab: Lab, opts: StabilityOptions, say: Say) -> dict[str, Any]:
    flag = lab.dir / OLD_ROUTES_FLAG
    if opts.old_routes:
        flag.touch()
    handling = "OLD (metric-0 prefix route via the ENI in main)" if opts.old_routes else "noprefixroute"
    say(f"stability: {opts.trials} crash failovers, each new holder watched {opts.watch_s:g}s; "
        f"guest routes: {handling}")
    side = FailoverSide(lab)
    trials: list[dict[str, Any]] = []
    drops_before = vpcswitch.drops(lab.spec)
    try:
        for k in range(1, opts.trials + 1):
            trials.append(_trial(lab, side, k, opts.watch_s))
            t = trials[-1]
            say(f"  stability #{k:<2} {t.get('from')} -> {t.get('to')}: false failovers "
                f"{t['false_failovers']}, holder unreachable {t['holder_unreachable_probes']}/{t['probes']}"
                + (f" ({t['error']})" if t.get("error") else ""))
    finally:
        flag.unlink(missing_ok=True)
    drops_after = vpcswitch.drops(lab.spec)
    return {
        "srcdst_check": vpcswitch.active(lab.spec),
        "primary_metric": primary_metric(lab),
        "guest_routes": "old" if opts.old_routes else "noprefixroute",
        "watch_s": opts.watch_s,
        "trials": len(trials),
        "false_failovers": sum(t["false_failovers"] for t in trials),
        "holder_unreachable_probes": sum(t["holder_unreachable_probes"] for t in trials),
        "probes": sum(t["probes"] for t in trials),
        "failed_trials": sum(1 for t in trials if t.get("error")),
        "dropped_by_srcdst_check": {p: drops_after[p] - drops_before.get(p, 0) for p in drops_after
                                    if drops_after[p] - drops_before.get(p, 0)},
        "probe": {"from": [c.controller_id for c in lab.spec.controllers], "period_s": PROBE_PERIOD_S,
                  "timeout_s": PROBE_TIMEOUT_S, "url": f"http://<holder primary IP>:{HTTP_PORT}/healthz"},
        "per_trial": trials,
        "goal": {"zero_false_failovers": all(t["false_failovers"] == 0 for t in trials) and bool(trials),
                 "zero_unreachable_probes": all(t["holder_unreachable_probes"] == 0 for t in trials)
                 and bool(trials) and not any(t.get("error") for t in trials)},
    }


def _trial(lab: Lab, side: FailoverSide, k: int, watch_s: float) -> dict[str, Any]:
    out_dir = lab.dir / "stability"
    try:
        side.wait_ready(60.0)
        rec, _ = bench.trial(lab, side, "crash", k, out_dir)
    except netns.LabError as e:
        # the holder never settled (what the old handling does): the watch still counts
        rec = {"trial": k, "from": lab.holder(), "to": None, "error": str(e)[:200]}
        _recover(side)
    holder = lab.holder()
    started = time.time()
    probes = [_Probe(lab, c.role, holder, out_dir / f"probe-{k}-{c.controller_id}.jsonl", watch_s)
              for c in lab.spec.controllers] if holder else []
    samples: list[str | None] = [holder]
    deadline = time.monotonic() + watch_s
    while time.monotonic() < deadline:
        time.sleep(SAMPLE_S)
        samples.append(lab.holder())
    answers = [a for p in probes for a in p.stop()]
    journal = _failovers_between(lab, started, time.time())
    return {
        **{key: rec.get(key) for key in ("trial", "from", "to", "rto_s", "ok", "error") if key in rec},
        "watched": holder,
        "false_failovers": max(len(journal), _changes(samples)),
        "holder_changes": _changes(samples),
        "probes": len(answers),
        "holder_unreachable_probes": sum(1 for a in answers if a.answer is None) if holder
        else int(watch_s / PROBE_PERIOD_S) * len(lab.spec.controllers),
        "journal": journal,
    }


def _recover(side: FailoverSide) -> None:
    with contextlib.suppress(netns.LabError):  # the watch that follows measures whatever state this is
        side.recover()


class _Probe:
    """The lab's client run in a controller's namespace against the holder's primary IP."""

    def __init__(self, lab: Lab, role: str, holder: str, out: Path, duration_s: float) -> None:
        self.out = out
        out.parent.mkdir(parents=True, exist_ok=True)
        out.unlink(missing_ok=True)
        ip = lab.spec.member(holder).ip
        self.proc: subprocess.Popen[bytes] = netns.spawn(lab.spec.ns(role), [
            PY, "-m", "failover.lab.client", "--url", f"http://{ip}:{HTTP_PORT}/healthz", "--out", str(out),
            "--period", str(PROBE_PERIOD_S), "--count", str(int(duration_s / PROBE_PERIOD_S)),
            "--duration", f"{duration_s:g}", "--timeout", str(PROBE_TIMEOUT_S),
        ], out.with_suffix(".log"))

    def stop(self) -> list[analysis.Answer]:
        try:
            self.proc.wait(PROBE_TIMEOUT_S + 5)
        except subprocess.TimeoutExpired:
            netns.stop_pids([self.proc.pid], grace_s=1.0)
        return analysis.read_answers(self.out)


def primary_metric(lab: Lab) -> int | None:
    """The metric of the members' eth0 connected routes, as the kernel has them (the lowest)."""
    found: list[int] = []
    for m in lab.spec.members:
        out = netns.ip(lab.spec.ns(m.role), "-4", "route", "show", "dev", "eth0", "proto", "kernel",
                       check=False)
        found += [int(x) for x in re.findall(r"\bmetric (\d+)", out)]
        if out.strip() and "metric" not in out:
            found.append(0)
    return min(found) if found else None


def result_name(result: dict[str, Any]) -> str:
    """Where the bench writes: a stability-only run does not overwrite the full bench's rto.json,
    and the old handling's run is the recorded "before"."""
    st = result.get("stability") or {}
    if st.get("guest_routes") == "old":
        return "stability_before.json"
    others = {"failover", "keepalived", "equal_window", "noise", "realistic"} & {
        k for k, v in result.items() if v}
    return "rto.json" if others or not st else "stability.json"


def table(st: dict[str, Any] | None) -> list[str]:
    if not st:
        return []
    return [f"stability ({st['guest_routes']} guest routes, src/dst check {st['srcdst_check']}, primary "
            f"metric {st['primary_metric']}): {st['trials']} failovers watched {st['watch_s']:g}s each: "
            f"false failovers {st['false_failovers']}, holder unreachable "
            f"{st['holder_unreachable_probes']}/{st['probes']} probes"]
