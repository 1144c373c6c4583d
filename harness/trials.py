"""The reliability trials' common ground: a result with failures and figures, and one checked failover.

A trial runs `runs` repetitions against a `ChaosSystem` and never stops at the
first violated property: it records a failure line and carries on (a timeout
ends it, since the system is then in an unknown state). The tests assert
`result.failures == []` at a small count; `benchmarks/bench_reliability.py`
runs the same functions at the full count and tabulates them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.chaos import ChaosSystem, Group
from harness.chaos_events import eni_moves, holderless_gaps

Progress = Callable[[str], None]


def quiet(_msg: str) -> None:
    return None


@dataclass
class TrialResult:
    trial: str
    runs: int
    failures: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    elapsed_s: float = 0.0

    def fail(self, what: str) -> None:
        self.failures.append(what)

    def check(self, ok: bool, what: str) -> bool:
        if not ok:
            self.fail(what)
        return ok

    def done(self) -> TrialResult:
        self.elapsed_s = round(time.monotonic() - self.started, 1)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "runs": self.runs, "failures": list(self.failures),
                "passed": not self.failures, "figures": self.figures, "elapsed_s": self.elapsed_s}


@dataclass(frozen=True)
class Outcome:
    """One failover as the journal and the cloud saw it."""

    record: dict[str, Any]
    records_total: int
    gap_s: float | None
    moved_once: bool
    attached_to: tuple[str, ...]


def current_step(record: dict[str, Any]) -> str:
    running = [s["name"] for s in record.get("steps", []) if s["status"] == "running"]
    return running[-1] if running else (record["steps"][-1]["name"] if record.get("steps") else "begin")


def fail_and_wait(system: ChaosSystem, g: Group, *, during: Callable[[dict[str, Any]], None] | None = None,
                  timeout: float = 60) -> Outcome:
    """Fails the group's holder, optionally does `during(record)` once the failover has begun,
    waits for it to finish and reads the cloud's side of it. The old holder stays failed."""
    src = system.holder_of(g)
    assert src is not None, f"{g.name}: the ENI has no holder before the trial"
    seq0 = system.last_seq()
    before = system.records(g.name)
    system.fail(src)
    rec = system.wait_running(g.name, {r["id"] for r in before})
    if during is not None:
        during(rec)
    recs = system.wait_records(g.name, len(before) + 1, timeout)
    final = next((r for r in recs if r["id"] == rec["id"]), rec)
    events = system.events(seq0)
    moves = eni_moves(events, g.eni)
    gaps = holderless_gaps(events, g.eni)
    return Outcome(final, len(recs) - len(before), max(gaps) if gaps else None, moves.moved_once,
                   moves.attached_to)


def judge(result: TrialResult, label: str, out: Outcome, target: str) -> None:
    """The properties every failover trial asks for."""
    rec = out.record
    result.check(rec["result"] == "completed",
                 f"{label}: failover {rec['id']} ended {rec['result']}: {rec.get('error')}")
    result.check(out.records_total == 1, f"{label}: {out.records_total} journal records for one failure")
    # every attach to the target (one the cloud failed is re-sent), exactly one of them kept
    result.check(out.moved_once and set(out.attached_to) == {target},
                 f"{label}: ENI attach transitions {out.attached_to}, expected exactly one to {target}")


def restore(system: ChaosSystem, instance: str, timeout: float = 60) -> None:
    """Brings a failed instance back and waits until it is a healthy standby again."""
    system.heal(instance)
    system.wait_steady(timeout)
