"""The RTO benchmark: the same client traffic and failure modes against the controller and keepalived.

One trial: wait until the side is healthy, start steady client traffic (a request every 20 ms,
bounded in count and time), wait for steady answers by the holder, inject the failure, wait
until the other instance answers steadily (or the deadline), stop the client, measure, restore.
The partition trial instead watches for a while and passes only if nothing moved.
"""

from __future__ import annotations

import itertools
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from failover.lab import analysis, netns
from failover.lab.keepalived import KeepalivedPair, VrrpSettings
from failover.lab.runtime import PY, Lab
from failover.lab.sides import FailoverSide, KeepalivedSide, Side

PERIOD_S = 0.02
STEADY_ANSWERS = 15  # 0.3 s of answers by the holder before the failure
CONFIRM_S = 0.4  # the new holder answers this long before the trial ends
TRIAL_DEADLINE_S = 20.0
PARTITION_WATCH_S = 4.0
PARTS = ("rto", "window", "noise", "realistic", "stability")  # run in this order; runners in parts.RUNNERS

Say = Callable[[str], None]


@dataclass
class BenchOptions:
    runs: int = 10
    modes: tuple[str, ...] = ("crash", "hang", "stop", "partition")
    keepalived: bool = True
    out_dir: Path = field(default_factory=lambda: Path("benchmarks/results"))
    parts: tuple[str, ...] = PARTS
    noise_s: float = 600.0
    loss: float = 0.05
    realistic_runs: int = 10  # per seed
    time_scale: float = 1.0
    seed: int = 1
    stability_trials: int = 10
    stability_watch_s: float = 60.0
    old_guest_routes: bool = False  # the stability part's "before" (see stability.py)
    realistic_seeds: int = 3  # seeds seed, seed + 1, ...: the draws differ from seed to seed
    raw_dir: str = "raw"  # under the lab's directory: each trial's client log (and notify log)

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(range(self.seed, self.seed + self.realistic_seeds))


def replace_modes(opts: BenchOptions, modes: tuple[str, ...]) -> BenchOptions:
    return replace(opts, modes=modes)


@dataclass
class Trace:
    """One failover kept for the chart: the client's answers and the journal's steps."""

    answers: list[analysis.Answer]
    injected_at: float
    entry: dict[str, Any] | None
    old: str
    new: str


class Client:
    def __init__(self, lab: Lab, address: str, out: Path, duration_s: float = 40.0) -> None:
        self.out = out
        out.parent.mkdir(parents=True, exist_ok=True)
        out.unlink(missing_ok=True)
        out.touch()
        self.proc = netns.spawn(lab.spec.client_ns, [
            PY, "-m", "failover.lab.client", "--url", f"http://{address}/", "--out", str(out),
            "--period", str(PERIOD_S), "--count", str(int(duration_s / PERIOD_S)),
            "--duration", f"{duration_s:g}", "--timeout", "1.0",
        ], out.with_suffix(".log"))

    def answers(self) -> list[analysis.Answer]:
        return analysis.read_answers(self.out)

    def stop(self) -> list[analysis.Answer]:
        netns.signal_pid(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(5)
        except Exception:
            self.proc.kill()
            self.proc.wait(5)
        return self.answers()


def _wait_for(cond: Callable[[], bool], timeout_s: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def trial(lab: Lab, side: Side, mode: str, k: int, out_dir: Path,
          deadline_s: float = TRIAL_DEADLINE_S) -> tuple[dict[str, Any], Trace | None]:
    holder = side.wait_ready()
    other = next(m.instance_id for m in side.members if m.instance_id != holder)
    client = Client(lab, side.address, out_dir / f"{side.name}-{mode}-{k}.jsonl", deadline_s + 20)
    rec: dict[str, Any] = {"trial": k, "from": holder}
    notify = side.pair.mark() if isinstance(side, KeepalivedSide) else None
    try:
        if not _wait_for(lambda: sum(a.answer == holder for a in client.answers()) >= STEADY_ANSWERS, 10.0):
            raise netns.LabError(f"{side.name}: no steady answers by {holder} before the failure")
        injected = time.time()
        side.inject(mode, holder)
        if mode == "partition":
            time.sleep(PARTITION_WATCH_S)
        else:
            def confirmed() -> bool:
                news = [a.done for a in client.answers() if a.answer == other and a.done >= injected]
                return bool(news) and time.time() - min(news) >= CONFIRM_S
            _wait_for(confirmed, deadline_s, step=0.05)
    finally:
        answers = client.stop()
        if isinstance(side, KeepalivedSide) and notify is not None:
            # this trial's VRRP transitions only, next to its client log
            side.pair.save_since(notify, out_dir / f"{side.name}-{mode}-{k}.notify")
    trace = None
    if mode == "partition":
        moved = analysis.served_by(answers, injected).get(other, 0)
        gap = _max_gap(answers, holder, injected)
        rec.update({"to": holder if not moved else other, "failovers": int(bool(moved)),
                    "max_gap_s": gap, "ok": not moved and side.holder() == holder})
    else:
        o = analysis.outage(answers, holder, other, injected)
        rec.update({"to": other, "rto_s": _r(o.rto_s), "errors": o.errors, "stayed": o.stayed,
                    "ok": o.rto_s is not None and o.stayed})
        if isinstance(side, FailoverSide):
            entry = _journal_entry(lab, injected)
            if entry:
                rec["breakdown"] = analysis.breakdown(entry, injected)
                if o.last_old is not None:
                    rec["breakdown"]["client_detected_gap_to_start"] = _r(
                        (analysis._ts(entry.get("started_at")) or injected) - o.last_old)
            trace = Trace(answers, injected, entry, holder, other)
    side.restore(mode, holder)
    return rec, trace


def _max_gap(answers: list[analysis.Answer], holder: str, since: float) -> float | None:
    times = [a.done for a in answers if a.answer == holder and a.done >= since - 0.1]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return _r(max(gaps)) if gaps else None


def _journal_entry(lab: Lab, since: float) -> dict[str, Any] | None:
    for _ in range(40):  # a slow cloud's failover may still be finishing when the client is served
        hist = lab.cli_json("history")
        if isinstance(hist, list):
            for e in sorted(hist, key=lambda e: str(e.get("started_at", "")), reverse=True):
                started = analysis._ts(e.get("started_at"))
                finished = e.get("result") not in (None, "", "running")
                if started is not None and started >= since - 1.0 and finished:
                    return dict(e)
        time.sleep(0.3)
    return None


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def run_side(lab: Lab, side: Side, opts: BenchOptions, say: Say) -> tuple[dict[str, Any], Trace | None]:
    out: dict[str, Any] = {}
    first_trace: Trace | None = None
    for mode in opts.modes:
        if mode not in side.modes():
            out[mode] = {"applicable": False, "why": "keepalived has no outside observers to partition"}
            continue
        trials = []
        for k in range(1, opts.runs + 1):
            try:
                rec, trace = trial(lab, side, mode, k, lab.dir / opts.raw_dir)
            except netns.LabError as e:
                # a trial that breaks the pair is a result too; the bench carries on
                rec, trace = {"trial": k, "from": "?", "ok": False, "error": str(e)[:300]}, None
                say(f"  {side.name:10} {mode:9} #{k:<2} FAILED: {str(e)[:150]}; recovering")
                trials.append(rec)
                try:
                    side.recover()
                except netns.LabError as again:
                    # The side cannot be brought back: its remaining trials are failures, the
                    # bench goes on with the next side rather than losing every figure so far.
                    say(f"  {side.name:10} could not recover ({str(again)[:120]}); skipping its trials")
                    out[mode] = analysis.summarize(trials)
                    return out, first_trace
                continue
            if trace is not None and first_trace is None and mode == "crash":
                first_trace = trace
            trials.append(rec)
            shown = f"RTO {rec['rto_s']:.3f}s" if rec.get("rto_s") is not None else (
                "no failover (right)" if mode == "partition" and rec.get("ok") else "FAILED")
            say(f"  {side.name:10} {mode:9} #{k:<2} {rec['from']} -> {rec.get('to')}: {shown}")
        out[mode] = analysis.summarize(trials)
    return out, first_trace


def _stop_service(lab: Lab, instance_id: str) -> None:
    pid = lab.pid(f"service-{instance_id}")
    if pid:
        netns.stop_pids([pid], grace_s=1.0)


def run_keepalived(lab: Lab, settings: VrrpSettings, opts: BenchOptions, say: Say) -> dict[str, Any]:
    pair = KeepalivedPair(lab.spec, lab.dir / f"ka-{settings.advert_int:g}", settings)
    side = KeepalivedSide(lab, pair)
    try:
        side.start()
        result, _ = run_side(lab, side, opts, say)
    finally:
        for m in lab.spec.vrrp:
            pair.stop(m)
            _stop_service(lab, m.instance_id)
    return result
