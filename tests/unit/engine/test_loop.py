"""The leader loop with fake ports: dispatch, drills, flapping, bounded concurrency."""

from __future__ import annotations

import itertools
import time
from typing import Any, NoReturn

import pytest

from failover import metrics
from failover.config import Config, parse
from failover.engine.actions import Block
from failover.engine.decide import Kind
from failover.engine.execute import Collaborators
from failover.engine.loop import Engine
from failover.engine.orphans import NOT_STARTED, SWEEP_S
from failover.model import CallTrace, CommandResult, EniState, GuestNetwork, Result
from failover.records import DrillRequest
from harness.clock import FakeClock
from tests.unit.engine.fakes import (
    FakeCloud,
    FakeGuest,
    FakeJournal,
    FakeLeadership,
    FakeObservations,
    FakeRequests,
    FakeVerifier,
)
from tests.unit.engine.narrow import of_kind

CTLS = ["ctl-0", "ctl-1", "ctl-2"]


def config(groups: int = 1, **policy: Any) -> Config:
    return parse({
        "cloud": {"region": "cn-hangzhou"},
        "defaults": {"policy": {"cooldown_s": 0, **policy}},
        "groups": [{"name": f"g{i}", "network_interface": f"eni-{i}", "members": ["i-a", "i-b"],
                    "checks": [{"type": "tcp", "port": 80}]} for i in range(groups)],
    })


class Rig:
    def __init__(self, groups: int = 1, **policy: Any) -> None:
        self.cfg = config(groups, **policy)
        self.cloud = FakeCloud({f"eni-{i}": "i-a" for i in range(groups)})
        self.lead = FakeLeadership()
        self.journal = FakeJournal()
        self.obs = FakeObservations()
        self.req = FakeRequests()
        self.clock = FakeClock()
        deps = Collaborators(self.cloud, self.lead, self.journal, lambda g: FakeGuest(),
                             FakeVerifier(), self.clock)
        self.engine = Engine(self.cfg, deps, self.obs, self.req)

    def votes(self, instance: str, up: bool, groups: int = 1) -> None:
        for i in range(groups):
            self.obs.vote(f"g{i}", instance, up, CTLS)

    def settle(self) -> None:
        deadline = time.monotonic() + 10
        while self.engine.ledger.running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not self.engine.ledger.running


def test_follower_does_nothing() -> None:
    r = Rig()
    r.lead.leader = False
    r.votes("i-a", False)
    r.votes("i-b", True)
    assert r.engine.tick() == []
    assert r.cloud.mutations == []


def test_holder_learned_from_the_cloud_then_failover_on_quorum() -> None:
    r = Rig()
    r.votes("i-a", True)
    r.votes("i-b", True)
    assert r.engine.tick() == []
    assert r.journal.group_state("g0").holder == "i-a"
    r.obs.vote("g0", "i-a", False, CTLS[:1])  # one replica alone sees it down
    assert r.engine.tick() == []
    r.obs.vote("g0", "i-a", False, CTLS[:2])  # a majority
    actions = r.engine.tick()
    assert [a.kind for a in actions] == [Kind.FAILOVER]
    r.settle()
    assert r.cloud.enis["eni-0"].instance_id == "i-b"
    assert [x.result for x in r.journal.history("g0")] == [Result.COMPLETED]


def test_flapping_primary_fails_over_once_then_blocks_until_ack() -> None:
    r = Rig(flap_max_failovers=1)
    r.votes("i-a", False)
    r.votes("i-b", True)
    r.engine.tick()
    r.settle()
    assert len(r.journal.history("g0")) == 1
    # The new holder flaps too: the group is blocked, not moved back.
    r.votes("i-b", False)
    r.votes("i-a", True)
    actions = r.engine.tick()
    assert [(a.kind, a.code) for a in of_kind(Block, actions)] == [(Kind.BLOCK, "flapping")]
    assert r.journal.group_state("g0").blocked
    r.engine.tick()
    assert len(r.journal.history("g0")) == 1
    assert r.journal.ack("g0")
    actions = r.engine.tick()
    assert [a.kind for a in actions] == [Kind.FAILOVER]
    r.settle()
    assert len(r.journal.history("g0")) == 2


def test_drill_executes_exactly_once_and_reports_back() -> None:
    r = Rig()
    r.votes("i-a", True)
    r.votes("i-b", True)
    now = r.clock.now()
    r.req.submit(DrillRequest("req-1", "g0", None, now, now + 60, "ops"))
    r.engine.tick()
    r.engine.tick()  # the claimed request is not served twice
    r.settle()
    drills = [x for x in r.journal.history("g0") if x.request_id == "req-1"]
    assert len(drills) == 1
    assert r.req.results["req-1"] == (drills[0].id, "completed")


def test_a_claim_left_unanswered_is_answered_from_the_journal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A claim a former leader left unanswered is answered on taking office; one this leader
    left (its journal write failed after the claim) at the next look, SWEEP_S later."""
    r = Rig()
    r.votes("i-a", True)
    r.votes("i-b", True)
    now = r.clock.now()
    r.req.submit(DrillRequest("req-1", "g0", None, now, now + 60, "ops"))
    assert r.req.claim("req-1", r.lead.fence())  # a former leader's claim, nothing begun
    r.engine.tick()
    assert r.req.results["req-1"] == (None, NOT_STARTED)
    r.req.submit(DrillRequest("req-2", "g0", None, now, now + 60, "ops"))

    def lost(*_: Any) -> NoReturn:
        raise ConnectionError("journal write lost")

    monkeypatch.setattr(r.journal, "begin", lost)
    with pytest.raises(ConnectionError):
        r.engine.tick()  # claimed, then the journal write failed
    assert "req-2" not in r.req.results and not r.journal.history("g0")
    r.engine.tick()
    assert "req-2" not in r.req.results  # the next look is SWEEP_S away
    r.clock.t += SWEEP_S
    r.engine.tick()
    assert r.req.results["req-2"] == (None, NOT_STARTED)


def test_zone_outage_moves_every_group_with_bounded_concurrency() -> None:
    r = Rig(groups=40)
    r.votes("i-a", False, groups=40)
    r.votes("i-b", True, groups=40)
    actions = r.engine.tick()
    assert len(actions) == 40
    r.settle()
    assert all(r.cloud.enis[f"eni-{i}"].instance_id == "i-b" for i in range(40))
    assert r.engine._pool._max_workers == r.cfg.controller.max_parallel_failovers


def test_a_failing_cloud_is_retried_with_back_off_and_logged_once(caplog: Any) -> None:
    import threading

    from failover.model import CloudError, ErrorKind

    r = Rig()
    calls: list[float] = []
    stop = threading.Event()

    def broken() -> NoReturn:
        calls.append(r.clock.monotonic())
        if len(calls) == 8:
            stop.set()
        raise CloudError("endpoint unreachable", kind=ErrorKind.RETRYABLE, code="Timeout")

    r.obs.snapshot = broken  # type: ignore[method-assign]  # patched for this test; the signature is still checked
    with caplog.at_level("WARNING"):
        r.engine.run_forever(stop)  # in the fake clock's time: the pauses pass at once
    # tick_s is 0.05: the pause doubles from 0.2 s up to 2 s instead of a retry every tick.
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(calls)]
    assert gaps == [0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]
    assert sum("engine tick failed" in rec.message for rec in caplog.records) == 1


def test_a_failover_interrupted_by_a_brief_suspension_is_resumed_by_the_same_leader() -> None:
    r = Rig()
    r.votes("i-a", False)
    r.votes("i-b", True)
    r.lead.lose_after = 3  # begin, detach running, then the session is suspended
    r.engine.tick()
    r.settle()
    [rec] = r.journal.history("g0")
    assert not rec.finished
    r.lead.leader, r.lead.lose_after = True, None  # reconnected, still the leader
    actions = r.engine.tick()
    assert [a.kind for a in actions] == [Kind.RESUME]
    r.settle()
    assert r.journal.records[rec.id].result is Result.COMPLETED
    assert r.cloud.mutations == [("detach", "eni-0", "i-a"), ("attach", "eni-0", "i-b")]


def test_a_group_whose_holder_cannot_be_read_does_not_stop_the_others() -> None:
    from failover.model import CloudError, ErrorKind

    r = Rig(groups=2)
    real = r.cloud.describe_eni

    def flaky(eni_id: str, **kw: Any) -> EniState:
        if eni_id == "eni-0":
            raise CloudError("InvalidEniId.NotFound", kind=ErrorKind.FATAL)
        return real(eni_id, **kw)

    r.cloud.describe_eni = flaky  # type: ignore[method-assign]  # patched for this test; the signature is still checked
    # Patched for this test (the lambda's signature is checked against the method's).
    batch = r.cloud.describe_enis  # taking office reads every ENI at once: eni-0 is missing there
    r.cloud.describe_enis = lambda ids, **kw: {e: s for e, s in batch(ids, **kw).items()  # type: ignore[method-assign]
                                               if e != "eni-0"}
    r.votes("i-a", False, groups=2)
    r.votes("i-b", True, groups=2)
    actions = r.engine.tick()
    # g0's holder is unknown: guessing could move a healthy service, so it is left out.
    assert [(a.kind, a.group) for a in actions] == [(Kind.FAILOVER, "g1")]
    r.settle()
    r.cloud.describe_eni = real  # type: ignore[method-assign]  # patched for this test; the signature is still checked
    r.cloud.describe_enis = batch  # type: ignore[method-assign]  # the fake's own method put back
    assert r.engine.tick() == []  # not retried before its back-off
    r.clock.sleep(3)
    assert [(a.kind, a.group) for a in r.engine.tick()] == [(Kind.FAILOVER, "g0")]
    r.settle()


def test_a_hung_release_of_a_former_holder_never_delays_the_next_failover() -> None:
    import threading

    from failover.records import GroupState

    r = Rig()
    gate = threading.Event()
    guest = FakeGuest()
    real_release = guest.release

    def hung_release(instance_id: str, network: GuestNetwork, *, timeout_s: float,
                     trace: CallTrace | None = None) -> CommandResult:
        gate.wait(10)  # a reverse script that takes its whole timeout
        return real_release(instance_id, network, timeout_s=timeout_s, trace=trace)

    guest.release = hung_release  # type: ignore[method-assign]  # patched for this test; the signature is still checked
    r.engine.deps = r.engine.executor.deps = replace_guest(r.engine.deps, guest)
    r.journal.states["g0"] = GroupState("g0", holder="i-a", configured="i-a", pending_release=("i-b",))
    r.votes("i-a", True)
    r.votes("i-b", True)
    assert [a.kind for a in r.engine.tick()] == [Kind.RELEASE]
    # The holder dies while i-b's release hangs: no failover to i-b (it is being cleaned),
    # but the group is not frozen either: the block says why, and nothing waits on the release.
    r.votes("i-a", False)
    actions = r.engine.tick()
    assert [(a.kind, a.code) for a in of_kind(Block, actions)] == [(Kind.BLOCK, "no_standby")]
    gate.set()
    deadline = time.monotonic() + 5
    while r.engine.ledger.releasing.get("g0") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [a.kind for a in r.engine.tick()] == [Kind.FAILOVER]
    r.settle()
    assert r.journal.group_state("g0").holder == "i-b"


def replace_guest(deps: Any, guest: Any) -> Any:
    from dataclasses import replace

    return replace(deps, guest_for=lambda g: guest)


def test_a_snapshot_only_reads_the_tick_shows_it() -> None:
    r = Rig()
    r.votes("i-a", True)
    r.votes("i-b", True)
    r.engine.tick()  # in office: the holder learned from the cloud
    r.obs.vote("g0", "i-a", False, CTLS)
    gauge = {"group": "g0", "ecs_instance": "i-a"}
    states = dict(r.journal.states)
    reads = r.cloud.reads
    snap = r.engine.snapshot()
    assert [(v.name, v.member_up["i-a"]) for v in snap.groups] == [("g0", False)]
    # Nothing written, exported or read from the cloud by the snapshot itself...
    assert (r.journal.states, r.cloud.reads) == (states, reads)
    assert metrics.REGISTRY.get_sample_value("failover_quorum_up", gauge) == 1
    # ...the tick's own steps show it.
    r.engine.tick()
    assert metrics.REGISTRY.get_sample_value("failover_quorum_up", gauge) == 0
