"""The leader loop against the cloud's view, with fakes of our ports: repair, adoption,
retries of a failing target, and resumes that re-read their record."""

from __future__ import annotations

from dataclasses import replace

from failover.engine.actions import Adopt, Block
from failover.engine.decide import Kind
from failover.model import (
    CallTrace,
    CloudError,
    CommandResult,
    EniStatus,
    ErrorKind,
    GuestNetwork,
    Result,
    StepName,
    StepStatus,
    Trigger,
)
from failover.records import FailoverRecord, StepRecord
from tests.unit.engine.narrow import of_kind, targeted
from tests.unit.engine.test_loop import CTLS, Rig


def served(r: Rig) -> bool:
    eni = r.cloud.enis["eni-0"]
    return eni.status is EniStatus.IN_USE and r.journal.group_state("g0").configured == eni.instance_id


def test_an_eni_detached_by_hand_is_attached_back_and_served() -> None:
    r = Rig()
    r.votes("i-a", True)
    r.votes("i-b", True)
    r.engine.tick()
    eni = r.cloud.enis["eni-0"]
    r.cloud.enis["eni-0"] = replace(eni, status=EniStatus.AVAILABLE, instance_id=None)
    actions = r.engine.tick()
    assert [(a.kind, a.to_instance) for a in targeted(actions)] == [(Kind.FAILOVER, "i-a")]
    r.settle()
    assert served(r) and r.cloud.enis["eni-0"].instance_id == "i-a"
    assert r.engine.tick() == []  # served: nothing more to do


def test_a_move_by_hand_is_adopted_journaled_and_its_holders_death_followed() -> None:
    r = Rig()
    r.votes("i-a", True)
    r.votes("i-b", True)
    r.engine.tick()
    r.cloud.enis["eni-0"] = replace(r.cloud.enis["eni-0"], instance_id="i-b")
    actions = r.engine.tick()
    assert [(a.kind, a.to_instance) for a in targeted(actions)] == [(Kind.ADOPT, "i-b")]
    r.settle()
    adopted = r.journal.history("g0")[0]
    assert (adopted.trigger, adopted.result, adopted.from_instance) == (Trigger.ADOPT, Result.COMPLETED, "i-a")
    assert "outside the controller" in adopted.reason
    state = r.journal.group_state("g0")
    assert (state.holder, state.configured) == ("i-b", "i-b") and "i-a" in state.pending_release
    assert ("detach", "eni-0", "i-b") not in r.cloud.mutations  # not undone
    # The adopted holder dies: the failover starts from it, and i-a is the target.
    r.votes("i-b", False)
    actions = r.engine.tick()
    assert [(a.kind, a.from_instance, a.to_instance) for a in targeted(actions)] == [(Kind.FAILOVER, "i-b", "i-a")]
    r.settle()
    assert served(r) and r.cloud.enis["eni-0"].instance_id == "i-a"


def test_an_attach_that_fails_after_the_detach_is_retried_then_the_next_standby() -> None:
    r = Rig()
    r.cfg.groups[0].members.append("i-c")
    r.votes("i-a", True)
    r.votes("i-b", True)
    r.votes("i-c", True)
    r.engine.tick()
    r.cloud.fail_attach["i-b"] = CloudError("attach failed", kind=ErrorKind.RETRYABLE, code="X")
    r.obs.vote("g0", "i-a", False, CTLS)
    r.engine.tick()
    r.settle()
    assert r.cloud.enis["eni-0"].status is EniStatus.AVAILABLE  # stranded but for the reconcile
    failure = r.journal.group_state("g0").failures_of("i-b")
    assert failure is not None and failure.count == 1
    assert [a.code for a in of_kind(Block, r.engine.tick())] == ["retry_backoff"]
    r.clock.sleep(3)
    assert [(a.kind, a.to_instance) for a in targeted(r.engine.tick())] == [(Kind.FAILOVER, "i-b")]
    r.settle()
    r.clock.sleep(10)
    assert [(a.kind, a.to_instance) for a in targeted(r.engine.tick())] == [(Kind.FAILOVER, "i-c")]
    r.settle()
    assert served(r) and r.cloud.enis["eni-0"].instance_id == "i-c"
    # One incident, one count for flapping.
    assert len(r.journal.group_state("g0").recent_failovers) == 1


def test_a_failed_guest_step_is_rerun_on_the_holder_then_the_next_standby() -> None:
    from tests.unit.engine.fakes import FakeGuest
    from tests.unit.engine.test_loop import replace_guest

    r = Rig()
    guest = FakeGuest(ok=False)
    r.engine.deps = r.engine.executor.deps = replace_guest(r.engine.deps, guest)
    r.votes("i-a", True)
    r.votes("i-b", True)
    r.engine.tick()
    r.obs.vote("g0", "i-a", False, CTLS)
    r.engine.tick()
    r.settle()
    assert r.cloud.enis["eni-0"].instance_id == "i-b" and not served(r)
    r.clock.sleep(3)
    assert [(a.kind, a.to_instance) for a in targeted(r.engine.tick())] == [(Kind.ADOPT, "i-b")]
    r.settle()
    assert [c[0] for c in guest.configured] == ["i-b", "i-b"]
    r.obs.vote("g0", "i-a", True, CTLS)  # the old primary is back; the guest works again
    guest.ok = True
    r.clock.sleep(1)
    actions = r.engine.tick()
    assert [(a.kind, a.from_instance, a.to_instance) for a in targeted(actions)] == [(Kind.FAILOVER, "i-b", "i-a")]
    r.settle()
    assert served(r) and r.cloud.enis["eni-0"].instance_id == "i-a"


def test_a_finished_failover_is_never_resumed_from_a_stale_copy() -> None:
    r = Rig()
    r.votes("i-a", True)
    r.votes("i-b", True)
    r.engine.tick()
    now = r.clock.now()
    stale = FailoverRecord("g0-1", "g0", "i-a", "i-b", Trigger.AUTO, "down", now, 1,
                           steps=(StepRecord(StepName.DETACH, now, 0.1, status=StepStatus.OK),))
    r.journal.records[stale.id] = replace(stale, result=Result.COMPLETED, finished_at=now + 1)
    ledger = r.engine.ledger  # taken at election, finished since
    ledger.take_office(ledger.states, {"g0": stale}, ["g0"], r.clock.monotonic())
    actions = r.engine.tick()
    assert [a.kind for a in actions] == [Kind.RESUME]
    r.settle()
    assert r.cloud.mutations == [] and r.journal.records[stale.id].result is Result.COMPLETED


def test_a_resume_whose_target_died_before_the_attach_is_abandoned_and_decided_afresh() -> None:
    r = Rig()
    r.cfg.groups[0].members.append("i-c")
    r.votes("i-a", False)
    r.votes("i-b", False)
    r.votes("i-c", True)
    r.cloud.enis["eni-0"] = replace(r.cloud.enis["eni-0"], status=EniStatus.AVAILABLE, instance_id=None)
    now = r.clock.now()
    rec = FailoverRecord("g0-1", "g0", "i-a", "i-b", Trigger.AUTO, "down", now, 1,
                         steps=(StepRecord(StepName.DETACH, now, 0.1, status=StepStatus.OK),))
    r.journal.records[rec.id] = rec
    assert [a.kind for a in r.engine.tick()] == [Kind.ABANDON]
    r.settle()
    assert r.journal.records[rec.id].result is Result.ABORTED
    assert [(a.kind, a.to_instance) for a in targeted(r.engine.tick())] == [(Kind.FAILOVER, "i-c")]
    r.settle()
    assert r.cloud.enis["eni-0"].instance_id == "i-c"


def test_a_reload_mid_failover_swaps_config_in_the_running_engine_and_runs_it_once() -> None:
    import threading

    from failover.engine.execute import Collaborators
    from tests.unit.engine.fakes import FakeGuest, FakeVerifier
    from tests.unit.engine.test_loop import config

    r = Rig()
    gate = threading.Event()
    guest = FakeGuest()
    real = guest.configure

    def slow_configure(instance_id: str, network: GuestNetwork, *, timeout_s: float,
                       trace: CallTrace | None = None) -> CommandResult:
        gate.wait(10)  # the guest step of a failover in flight when SIGHUP comes
        return real(instance_id, network, timeout_s=timeout_s, trace=trace)

    guest.configure = slow_configure  # type: ignore[method-assign]  # patched for this test; the signature is still checked
    r.engine.deps = r.engine.executor.deps = replace(r.engine.deps, guest_for=lambda g: guest)
    r.votes("i-a", True)
    r.votes("i-b", True)
    r.engine.tick()
    r.obs.vote("g0", "i-a", False, CTLS)
    assert [a.kind for a in r.engine.tick()] == [Kind.FAILOVER]
    new_cfg = config(2)  # a second group added
    deps = Collaborators(r.cloud, r.lead, r.journal, lambda g: guest, FakeVerifier(), r.clock)
    r.engine.reconfigure(new_cfg, deps, dict, lambda g: None)
    r.cloud.enis["eni-1"] = replace(r.cloud.enis["eni-0"], eni_id="eni-1", instance_id="i-a")
    r.votes("i-a", False, groups=2)
    r.votes("i-b", True, groups=2)
    for _ in range(3):  # re-reads the journal; g0's failover is running: not started again
        kinds = [(a.group, a.kind) for a in r.engine.tick()]
        assert ("g0", Kind.FAILOVER) not in kinds and ("g0", Kind.RESUME) not in kinds
    gate.set()
    r.settle()
    r.engine.tick()
    r.settle()
    g0 = [x for x in r.journal.history("g0")]
    assert [x.result for x in g0] == [Result.COMPLETED]
    assert [c[0] for c in guest.configured].count("i-b") == 2  # g0 once, g1 once
    assert r.cloud.enis["eni-1"].instance_id == "i-b"


def test_a_holder_not_serving_by_quorum_is_reconfigured_then_left() -> None:
    from tests.unit.engine.fakes import FakeGuest
    from tests.unit.engine.test_loop import replace_guest

    r = Rig()
    guest = FakeGuest()
    r.engine.deps = r.engine.executor.deps = replace_guest(r.engine.deps, guest)
    r.votes("i-a", True)
    r.votes("i-b", True)
    r.engine.tick()
    r.obs.vote("g0", "serving@i-a", False, CTLS)
    actions = r.engine.tick()
    assert [(a.kind, a.to_instance, a.not_serving) for a in of_kind(Adopt, actions)] == [(Kind.ADOPT, "i-a", True)]
    r.settle()
    assert [c[0] for c in guest.configured] == ["i-a"]
    assert r.engine.tick() == []  # the serving checks need a few rounds to see the re-run
    r.clock.sleep(30)
    actions = r.engine.tick()
    assert [(a.kind, a.from_instance, a.to_instance) for a in targeted(actions)] == [(Kind.FAILOVER, "i-a", "i-b")]
    r.settle()
    assert served(r) and r.cloud.enis["eni-0"].instance_id == "i-b"
