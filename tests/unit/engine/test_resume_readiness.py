"""A new leader's unfinished failover and a "not ready" answer read before it took office
(reliability trial 21b: the target had been force-stopped in an earlier run and started
since). The answer is read again before the record is abandoned on it; a target that really
is not ready is still abandoned, never resumed onto."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import pytest

from failover.engine.decide import Kind
from failover.engine.execute import Collaborators
from failover.engine.loop import Engine
from failover.engine.readiness import RECHECK_S, ReadinessTracker
from failover.model import (
    CloudError,
    EniStatus,
    ErrorKind,
    InstanceInfo,
    Result,
    StepName,
    StepStatus,
    Trigger,
)
from failover.records import FailoverRecord, StepRecord
from harness.clock import FakeClock
from tests.unit.engine.fakes import (
    FakeCloud,
    FakeGuest,
    FakeInstanceTypes,
    FakeJournal,
    FakeLeadership,
    FakeObservations,
    FakeRequests,
    FakeVerifier,
)
from tests.unit.engine.test_loop import CTLS, config
from tests.unit.engine.test_reconcile import NOW, at, one, record

STOPPING = InstanceInfo("i-b", "Stopping", "192.168.1.11", "z1", "vpc-a", "vsw-a", "ecs.g7")


class Takeover:
    """A follower whose readiness tracker read i-b while it was stopping, and the record of a
    failover i-a -> i-b that the old leader left after its detach (the ENI is Available)."""

    def __init__(self, votes_on_target: bool = True) -> None:
        self.cfg = config()
        self.cloud = FakeCloud({"eni-0": None})
        self.cloud.instances["i-b"] = STOPPING
        self.clock = FakeClock()
        self.tracker = ReadinessTracker(self.cfg.groups, self.cloud, FakeInstanceTypes(), self.clock)
        assert self.tracker.refresh() and self.tracker.ready_map() == {"g0": {"i-a": True, "i-b": False}}
        self.asked: list[str] = []
        self.journal = FakeJournal()
        deps = Collaborators(self.cloud, FakeLeadership(), self.journal, lambda g: FakeGuest(),
                             FakeVerifier(), self.clock)
        self.engine = Engine(self.cfg, deps, FakeObservations(), FakeRequests(),
                             readiness=self.tracker.ready_map, recheck_readiness=self.recheck,
                             readiness_read_at=self.tracker.read_at)
        obs = self.engine.observations
        assert isinstance(obs, FakeObservations)
        obs.vote("g0", "i-a", False, CTLS)
        if votes_on_target:
            obs.vote("g0", "i-b", True, CTLS)
        now = self.clock.now()
        self.record = FailoverRecord("g0-1", "g0", "i-a", "i-b", Trigger.AUTO, "down", now, 1,
                                     steps=(StepRecord(StepName.DETACH, now, 0.1, status=StepStatus.OK),))
        self.journal.records[self.record.id] = self.record
        self.clock.sleep(RECHECK_S + 5)  # the takeover comes later; the slow round is 30 s away

    def recheck(self, group: str) -> None:
        self.asked.append(group)
        self.tracker.recheck(group)

    def settle(self) -> None:
        deadline = time.monotonic() + 10
        while self.engine.ledger.running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not self.engine.ledger.running


def test_a_stale_not_ready_is_read_again_and_the_failover_resumed() -> None:
    t = Takeover()
    t.cloud.instances.pop("i-b")  # started again since: Running
    assert t.tracker.ready_map()["g0"]["i-b"] is False  # what the new leader's map still holds
    assert t.engine.tick() == []  # not abandoned on an answer from before its office
    assert "g0" in t.asked and t.journal.records["g0-1"].result is Result.RUNNING
    assert t.cloud.mutations == []
    assert t.tracker.refresh()  # the re-read the engine asked for
    assert [a.kind for a in t.engine.tick()] == [Kind.RESUME]
    t.settle()
    done = t.journal.records["g0-1"]  # a fresh name: mypy holds the read above as RUNNING still
    assert done.result is Result.COMPLETED
    assert t.cloud.enis["eni-0"].instance_id == "i-b"
    assert [r.id for r in t.journal.history("g0")] == ["g0-1"]  # no aborted record, no second one
    t.engine.shutdown(1)


def test_the_re_read_is_asked_for_without_a_quorum_verdict_on_the_target(
        caplog: pytest.LogCaptureFixture) -> None:
    """No verdict on i-b yet (so no "came back up" re-read): the wait itself asks for one,
    and says so once."""
    t = Takeover(votes_on_target=False)
    t.cloud.instances.pop("i-b")
    with caplog.at_level(logging.INFO, logger="failover.engine"):
        assert t.engine.tick() == [] and t.engine.tick() == [] and t.asked == ["g0", "g0"]
    assert [r.getMessage() for r in caplog.records if "waits for a re-read" in r.getMessage()] == [
        "unfinished failover waits for a re-read of its target's readiness (the answer predates this leader)"]
    assert t.tracker.refresh()
    assert [a.kind for a in t.engine.tick()] == [Kind.RESUME]
    t.settle()
    assert t.journal.records["g0-1"].result is Result.COMPLETED
    t.engine.shutdown(1)


def test_a_target_still_not_ready_when_read_again_is_abandoned_not_resumed_onto() -> None:
    t = Takeover()
    assert t.engine.tick() == [] and "g0" in t.asked
    assert t.tracker.refresh()  # the re-read: still stopping
    assert t.tracker.ready_map()["g0"]["i-b"] is False
    actions = t.engine.tick()
    assert [a.kind for a in actions] == [Kind.ABANDON] and "not ready" in actions[0].reason
    t.settle()
    assert t.journal.records["g0-1"].result is Result.ABORTED
    assert ("attach", "eni-0", "i-b") not in t.cloud.mutations
    t.engine.shutdown(1)


def test_a_stale_answer_never_holds_back_an_abandon_for_a_target_down_by_quorum() -> None:
    detached = record((StepRecord(StepName.DETACH, NOW - 4, 1.0, status=StepStatus.OK),))
    down = {"i-a": False, "i-b": False, "i-c": True}
    a = one(at(EniStatus.AVAILABLE, up=down, ready={"i-b": False}, ready_stale=True, unfinished=detached))
    assert a.kind is Kind.ABANDON and "down by quorum" in a.reason
    # Stale "not ready", attach not started: wait; fresh: abandon; attach landed: resume.
    assert one(at(EniStatus.AVAILABLE, ready={"i-b": False}, ready_stale=True, unfinished=detached)) is None
    assert one(at(EniStatus.AVAILABLE, ready={"i-b": False}, unfinished=detached)).kind is Kind.ABANDON
    landed = replace(detached, steps=(*detached.steps, StepRecord(StepName.ATTACH, NOW - 3)))
    resumed = one(at(EniStatus.IN_USE, "i-b", ready={"i-b": False}, ready_stale=True, unfinished=landed))
    assert resumed.kind is Kind.RESUME


def test_the_tracker_says_when_each_answer_was_read_and_keeps_it_through_a_failed_read() -> None:
    cfg = config(2)
    cloud = FakeCloud({"eni-0": "i-a", "eni-1": "i-a"})
    clock = FakeClock()
    tracker = ReadinessTracker(cfg.groups, cloud, FakeInstanceTypes(), clock)
    assert tracker.read_at() == {}
    read = clock.monotonic()
    assert tracker.refresh()
    assert tracker.read_at() == {"g0": read, "g1": read}
    clock.sleep(31)
    cloud.read_error = CloudError("throttled", kind=ErrorKind.RETRYABLE, code="Throttling")
    assert not tracker.refresh()
    assert tracker.read_at() == {"g0": read, "g1": read}  # the answers kept are that old
    cloud.read_error = None
    clock.sleep(RECHECK_S)
    tracker.recheck("g1")
    assert tracker.refresh()
    assert tracker.read_at() == {"g0": read, "g1": clock.monotonic()}
