"""The guest step as a check (guest.prestage): the service IPs first, RunCommand only as a fallback."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from failover import metrics
from failover.model import Result, StepName, StepStatus, Trigger, VerifyOutcome
from failover.records import StepRecord
from harness.clock import FakeClock
from tests.unit.engine.test_execute import World, group, steps


class ServedAfter:
    """A verifier whose service IPs answer from the `n`-th call on (0: never); a failing call
    takes its whole timeout on the clock, as a probe of an address not up yet does."""

    def __init__(self, n: int, clock: FakeClock) -> None:
        self.n = n
        self.clock = clock
        self.calls: list[tuple[str, tuple[str, ...], float]] = []

    def verify(self, group: str, instance_id: str, ips: Sequence[str], *, timeout_s: float) -> VerifyOutcome:
        self.calls.append((instance_id, tuple(ips), timeout_s))
        ok = self.n > 0 and len(self.calls) >= self.n
        if not ok:
            self.clock.sleep(timeout_s)
        return VerifyOutcome(ok, "" if ok else "tcp 80 refused")


def served_after(n: int) -> tuple[World, ServedAfter]:
    w = World()
    verifier = ServedAfter(n, w.clock)
    w.ex.deps = replace(w.ex.deps, verifier=verifier)
    return w, verifier


def paths(g: str) -> dict[str, float]:
    return {p: metrics.REGISTRY.get_sample_value("failover_guest_path_total", {"group": g, "path": p}) or 0.0
            for p in ("prestaged", "runcommand")}


def prestaged(**over: Any) -> Any:
    return group(name=over.pop("name"), guest={"prestage": True, "prestage_wait_s": 1.5}, **over)


def test_served_by_the_prestaged_trigger_sends_no_script() -> None:
    w, verifier = served_after(1)
    g = prestaged(name="pre-ok")
    before = paths("pre-ok")
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")).record
    assert rec.result is Result.COMPLETED
    assert w.guest.configured == []  # no RunCommand
    guest = rec.step(StepName.GUEST)
    assert guest is not None and (guest.status, guest.detail) == (StepStatus.OK, "prestaged")
    # the guest step's check probed the service IPs at once, in a short attempt; that passing
    # probe is the verify step's too (overlap.py): no second probe
    assert verifier.calls == [("i-b", ("192.168.1.51",), 0.2)]
    after = paths("pre-ok")
    assert (after["prestaged"] - before["prestaged"], after["runcommand"] - before["runcommand"]) == (1, 0)


def test_served_on_a_later_attempt_within_the_bound_is_prestaged() -> None:
    w, verifier = served_after(4)  # three short attempts fail (0.6 s), the fourth answers
    g = prestaged(name="pre-later")
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")).record
    guest = rec.step(StepName.GUEST)
    assert guest is not None and guest.detail == "prestaged" and w.guest.configured == []
    assert [t for _, _, t in verifier.calls[:4]] == [0.2] * 4


def test_not_served_within_the_bound_falls_back_to_runcommand() -> None:
    w, verifier = served_after(6)  # 4 x 0.2 s, then one attempt of the 0.7 s left; then the script
    g = prestaged(name="pre-fallback")
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")).record
    assert rec.result is Result.COMPLETED
    assert [i for i, _ in w.guest.configured] == ["i-b"]
    guest = rec.step(StepName.GUEST)
    assert guest is not None and guest.detail == "runcommand"
    assert paths("pre-fallback")["runcommand"] == 1
    # short attempts for the first half of the 1.5 s bound, then one attempt with what is left
    assert [round(t, 3) for _, _, t in verifier.calls[:5]] == [0.2] * 4 + [0.7]


def test_a_failed_fallback_fails_the_step_as_before() -> None:
    w, _ = served_after(0)
    w.guest.ok = False
    g = prestaged(name="pre-fail")
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")).record
    assert rec.result is Result.FAILED
    assert steps(rec)[-1] == ("guest", "failed")
    assert paths("pre-fail") == {"prestaged": 0, "runcommand": 0}


def test_without_prestage_the_guest_step_is_runcommand_and_records_no_path() -> None:
    w = World()
    g = group(name="plain")
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")).record
    guest = rec.step(StepName.GUEST)
    assert guest is not None and guest.detail is None and len(w.guest.configured) == 1
    assert len(w.verifier.calls) == 1  # only the verify step


@pytest.mark.parametrize("detail", [None, "prestaged"])
def test_the_step_detail_round_trips_and_is_absent_when_none(detail: str | None) -> None:
    s = StepRecord(StepName.GUEST, 1.0, 0.5, ("r",), None, StepStatus.OK, detail)
    d = s.to_dict()
    assert ("detail" in d) is (detail is not None)
    assert StepRecord.from_dict(d) == s


class SlowService:
    """The service answers, but only to a probe that waits at least 0.5 s for it."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.timeouts: list[float] = []

    def verify(self, group: str, instance_id: str, ips: Sequence[str], *, timeout_s: float) -> VerifyOutcome:
        self.timeouts.append(timeout_s)
        ok = timeout_s >= 0.5
        self.clock.sleep(0.5 if ok else timeout_s)
        return VerifyOutcome(ok, "" if ok else "http: timed out")


def test_a_service_slower_than_a_slice_still_counts_as_prestaged() -> None:
    w = World()
    slow = SlowService(w.clock)
    w.ex.deps = replace(w.ex.deps, verifier=slow)
    g = prestaged(name="pre-slow")
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")).record
    guest = rec.step(StepName.GUEST)
    assert guest is not None and guest.detail == "prestaged" and w.guest.configured == []
    assert [round(t, 3) for t in slow.timeouts[:5]] == [0.2] * 4 + [0.7]
