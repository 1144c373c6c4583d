"""Execute: fenced write-ahead steps, idempotent resume, escalation, failure paths."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from failover.config import GroupConfig
from failover.engine.execute import Collaborators, Executor, gateway_of
from failover.model import (
    CallTrace,
    CloudError,
    CommandResult,
    EipInfo,
    EniStatus,
    ErrorKind,
    GuestNetwork,
    NotLeader,
    Result,
    StepName,
    StepStatus,
    Trigger,
)
from harness.clock import FakeClock
from tests.unit.engine.fakes import FakeCloud, FakeGuest, FakeJournal, FakeLeadership, FakeVerifier


def group(**over: Any) -> GroupConfig:
    doc: dict[str, Any] = {"name": "web", "network_interface": "eni-a", "members": ["i-a", "i-b"],
                           "service_ips": ["192.168.1.51"], "checks": [{"type": "tcp", "port": 80}]}
    doc.update(over)
    return GroupConfig.model_validate(doc)


class World:
    def __init__(self, holder: str | None = "i-a") -> None:
        self.cloud = FakeCloud({"eni-a": holder})
        self.lead = FakeLeadership()
        self.journal = FakeJournal()
        self.guest = FakeGuest()
        self.verifier = FakeVerifier()
        self.clock = FakeClock()
        self.ex = Executor(Collaborators(self.cloud, self.lead, self.journal,
                                         lambda g: self.guest,
                                         self.verifier, self.clock))


def steps(rec: Any) -> list[tuple[str, str]]:
    return [(s.name.value, s.status) for s in rec.steps]


def test_gateway_is_alibabas_third_last_address() -> None:
    assert gateway_of("192.168.1.0/24") == "192.168.1.253"
    assert gateway_of("10.0.0.0/20") == "10.0.15.253"


def test_a_failover_runs_every_step_and_records_it_ahead() -> None:
    w = World()
    g = group()
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")).record
    assert rec.result is Result.COMPLETED
    assert steps(rec) == [("detach", "ok"), ("attach", "ok"), ("guest", "ok"), ("verify", "ok"), ("done", "ok")]
    assert w.cloud.mutations == [("detach", "eni-a", "i-a"), ("attach", "eni-a", "i-b")]
    attach = rec.step(StepName.ATTACH)
    assert attach is not None and attach.request_ids  # RequestIds reach the journal
    net = w.guest.configured[0][1]
    assert (net.cidr, net.gateway, net.ips[0]) == ("192.168.1.0/24", "192.168.1.253", "192.168.1.50")
    assert w.verifier.calls == [("web", "i-b", ("192.168.1.51",))]
    state = w.journal.group_state("web")
    assert state.holder == "i-b"
    assert state.pending_release == ("i-a",)
    assert state.cooldown_until == w.clock.now() + g.policy.cooldown_s
    # Write-ahead: every step is written running, then finished: 2 writes a step + begin + finish.
    assert len(w.journal.writes) == 1 + 2 * 5 + 1


def test_resume_skips_finished_steps_and_repeats_nothing() -> None:
    w = World()
    g = group()
    w.lead.lose_after = 4  # begin, detach running, detach ok, attach running -> then deposed
    rec = w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")
    with pytest.raises(NotLeader):
        w.ex.run(g, rec)
    half = w.journal.get(rec.id)
    assert half is not None and not half.finished
    assert steps(half) == [("detach", "ok"), ("attach", "running")]
    # A new leader with a higher epoch resumes the same record.
    w.lead = FakeLeadership("ctl-b", epoch=2)
    w.journal.epoch = 2
    ex2 = Executor(replace(w.ex.deps, leadership=w.lead))
    final = ex2.run(g, half).record
    assert final.result is Result.COMPLETED
    assert w.cloud.mutations == [("detach", "eni-a", "i-a"), ("attach", "eni-a", "i-b")]


def test_the_attach_starts_from_the_detachs_look_only_in_the_same_run() -> None:
    w = World()
    g = group()
    w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down"))
    (known,) = w.cloud.attach_known
    assert known is not None and (known.status, known.instance_id) == (EniStatus.AVAILABLE, None)
    # Interrupted between the steps and resumed by the same replica: the resume reads afresh.
    w2 = World()
    w2.lead.lose_after = 3  # begin, detach running, detach ok: deposed before the attach
    rec = w2.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")
    with pytest.raises(NotLeader):
        w2.ex.run(g, rec)
    w2.lead.leader, w2.lead.lose_after = True, None
    half = w2.journal.get(rec.id)
    assert half is not None
    assert w2.ex.run(g, half).record.result is Result.COMPLETED
    assert w2.cloud.attach_known == [None]


def test_a_run_returns_its_verifys_look_at_the_eni_and_none_when_it_failed() -> None:
    w = World()
    g = group()
    before = w.clock.monotonic()
    finished = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down"))
    look = finished.look
    assert finished.record.result is Result.COMPLETED and look is not None
    assert (look.status, look.instance, look.at >= before) == (EniStatus.IN_USE, "i-b", True)
    w2 = World()
    w2.verifier.ok = False
    failed = w2.ex.run(g, w2.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down"))
    assert (failed.record.result, failed.look) == (Result.FAILED, None)
    # A domain failure's class names it in the journal.
    assert (failed.record.error or "").startswith("VerifyFailed: service checks failed on i-b")
    verify = failed.record.step(StepName.VERIFY)
    assert verify is not None and verify.status is StepStatus.FAILED


def test_resume_after_the_cloud_got_further_than_the_journal() -> None:
    w = World(holder="i-b")  # the attach went through, the journal never heard
    g = group()
    rec = w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")
    final = w.ex.run(g, rec).record
    assert final.result is Result.COMPLETED
    assert ("detach", "skipped") in steps(final)
    assert w.cloud.mutations == []


def test_a_deposed_leaders_write_is_refused() -> None:
    w = World()
    g = group()
    rec = w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")
    w.journal.epoch = 2  # a new leader took office
    with pytest.raises(NotLeader):
        w.ex.run(g, rec)
    assert w.cloud.mutations == []  # the write-ahead failed before the detach


def test_stalled_detach_escalates_to_force_stop() -> None:
    w = World()
    w.cloud.stalled.add("i-a")
    g = group()
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "hung")).record
    assert rec.result is Result.COMPLETED
    assert ("fence", "ok") in steps(rec)
    assert w.cloud.mutations == [("stop", "i-a", ""), ("detach", "eni-a", "i-a"), ("attach", "eni-a", "i-b")]


class ColdRefusingGuest(FakeGuest):
    """Cloud Assistant refuses a command on a Stopped instance."""

    def __init__(self, cloud: FakeCloud) -> None:
        super().__init__()
        self.cloud = cloud
        self.refused = 0

    def configure(self, instance_id: str, network: GuestNetwork, *, timeout_s: float,
                  trace: CallTrace | None = None) -> CommandResult:
        if instance_id in self.cloud.stopped:
            self.refused += 1
            raise CloudError("instance not running", kind=ErrorKind.FATAL, code="NotRunning")
        return super().configure(instance_id, network, timeout_s=timeout_s, trace=trace)


def test_a_cold_standby_is_started_when_it_refuses_the_guest_script() -> None:
    w = World()
    w.guest = ColdRefusingGuest(w.cloud)
    w.cloud.stopped.add("i-b")  # kept Stopped: its type takes an ENI only then
    g = group()
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")).record
    assert rec.result is Result.COMPLETED
    assert w.cloud.mutations == [("detach", "eni-a", "i-a"), ("attach", "eni-a", "i-b"),
                                 ("start", "i-b", "")]
    assert w.guest.refused == 1 and [i for i, _ in w.guest.configured] == ["i-b"]


class TimingOutGuest(FakeGuest):
    def configure(self, instance_id: str, network: GuestNetwork, *, timeout_s: float,
                  trace: CallTrace | None = None) -> CommandResult:
        raise CloudError("command timed out", kind=ErrorKind.RETRYABLE, code="Timeout")


def test_a_warm_standby_costs_no_start_and_a_real_guest_error_still_fails() -> None:
    w = World()
    w.guest = ColdRefusingGuest(w.cloud)
    rec = w.ex.run(group(), w.ex.begin(group(), "i-a", "i-b", Trigger.AUTO, "down")).record
    assert rec.result is Result.COMPLETED and not any(m[0] == "start" for m in w.cloud.mutations)
    w2 = World()
    w2.guest = TimingOutGuest()
    rec2 = w2.ex.run(group(), w2.ex.begin(group(), "i-a", "i-b", Trigger.AUTO, "down")).record
    assert rec2.result is Result.FAILED and "command timed out" in (rec2.error or "")
    assert not any(m[0] == "start" for m in w2.cloud.mutations)


def test_without_a_guest_script_a_cold_standby_is_started_up_front() -> None:
    w = World()
    w.cloud.stopped.add("i-b")
    g = group(guest={"method": "none"})
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")).record
    assert rec.result is Result.COMPLETED
    assert ("start", "i-b", "") in w.cloud.mutations


def test_stalled_detach_without_fencing_fails_clearly() -> None:
    w = World()
    w.cloud.stalled.add("i-a")
    g = group(policy={"fence": "never"})
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "hung")).record
    assert rec.result is Result.FAILED
    assert "stalled" in (rec.error or "")
    assert not any(m[0] == "attach" for m in w.cloud.mutations)


def test_fence_always_stops_the_old_primary_first() -> None:
    w = World()
    g = group(policy={"fence": "always"})
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")).record
    assert steps(rec)[0] == ("fence", "ok")
    assert w.cloud.mutations[0] == ("stop", "i-a", "")


def test_drills_never_fence() -> None:
    w = World()
    g = group(policy={"fence": "always"})
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.DRILL, "drill")).record
    assert rec.step(StepName.FENCE) is None
    assert ("stop", "i-a", "") not in w.cloud.mutations
    assert w.journal.group_state("web").recent_failovers == ()  # drills are not flaps


def test_fatal_attach_fails_with_the_clouds_words_and_records_the_truth() -> None:
    w = World()
    w.cloud.fail_attach["i-b"] = CloudError(
        "i-b is in zone z2 but the ENI is in z1", kind=ErrorKind.FATAL,
        code="InvalidOperation.AvailabilityZoneMismatch", request_id="R-9")
    g = group()
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")).record
    assert rec.result is Result.FAILED
    assert "zone z2" in (rec.error or "") and "R-9" in (rec.error or "")
    assert steps(rec)[-1] == ("attach", "failed")
    # Not stranded forever: the failure is remembered against i-b (decide backs off before
    # trying it again, then tries the next standby); the ENI, Available, is attached again.
    failure = w.journal.group_state("web").failures_of("i-b")
    assert failure is not None and failure.count == 1 and "zone z2" in failure.error
    assert w.cloud.enis["eni-a"].status is EniStatus.AVAILABLE


def test_guest_and_verify_failures_fail_the_failover_but_keep_the_holder() -> None:
    for broken in ("guest", "verify"):
        w = World()
        if broken == "guest":
            w.guest.ok = False
        else:
            w.verifier.ok = False
        g = group()
        rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")).record
        assert rec.result is Result.FAILED
        assert steps(rec)[-1] == (broken, "failed")
        assert w.journal.group_state("web").holder == "i-b"


def test_missing_eip_fails_verify() -> None:
    w = World()
    g = group(eips=["47.100.0.1", "47.100.0.2"])
    w.cloud.eips = [EipInfo("eip-1", "47.100.0.1", "InUse", "eni-a", "NetworkInterface", "192.168.1.50", "NAT")]
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")).record
    assert rec.result is Result.FAILED
    assert "47.100.0.2" in (rec.error or "")


def test_release_clears_pending_release() -> None:
    w = World()
    g = group()
    w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.DRILL, "drill"))
    assert w.ex.release(g, "i-a")
    assert w.guest.released == ["i-a"]
    assert w.journal.group_state("web").pending_release == ()


def test_a_failed_rerun_on_a_holder_that_did_not_serve_counts_on_its_one_failure() -> None:
    from failover.engine.decide import NOT_SERVING
    from failover.records import GroupState, TargetFailure

    w = World()
    w.journal.states["web"] = GroupState("web", holder="i-a", configured="i-a",
                                         target_failures=(TargetFailure("i-a", 1, w.clock.now() - 1, NOT_SERVING),))
    w.verifier.ok = False
    g = group()
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-a", Trigger.ADOPT, "not serving")).record
    assert rec.result is Result.FAILED
    failures = w.journal.group_state("web").target_failures
    assert [(f.instance, f.count) for f in failures] == [("i-a", 2)]
class SendingGuest(FakeGuest):
    """Like the Cloud Assistant adapter: the trace's guard runs right before the script leaves."""

    def release(self, instance_id: str, network: GuestNetwork, *, timeout_s: float,
                trace: CallTrace | None = None) -> CommandResult:
        assert trace is not None, "a release must carry a trace: its guard is the fencing check"
        trace.check()
        return super().release(instance_id, network, timeout_s=timeout_s, trace=trace)


def test_release_is_fenced_right_before_it_is_sent() -> None:
    w = World()
    w.guest = SendingGuest()
    g = group()
    w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.DRILL, "drill"))
    w.lead.lose_after = w.lead.fences + 1  # deposed while the release waited for budget
    with pytest.raises(NotLeader):
        w.ex.release(g, "i-a")
    assert w.guest.released == []
    assert w.journal.group_state("web").pending_release == ("i-a",)


def test_no_release_on_the_enis_current_holder() -> None:
    w = World()
    w.guest = SendingGuest()
    g = group()
    w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.DRILL, "drill"))
    # The ENI went back to i-a (another failover, a move by hand) before the release began.
    w.cloud.enis["eni-a"] = replace(w.cloud.enis["eni-a"], instance_id="i-a")
    assert w.ex.release(g, "i-a")  # nothing to release: its addresses are the service's now
    assert w.guest.released == []
    assert w.journal.group_state("web").pending_release == ()


def test_a_release_asks_the_cloud_to_send_nothing_to_the_enis_holder() -> None:
    """The ENI's re-read right before the script is sent is the adapter's look, not the
    guard's: a guard runs on the adapter's sender and must read no cloud (tests/unit/cloud/
    test_release_guard.py drives this through the real adapter)."""
    w = World()
    g = group()
    w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.DRILL, "drill"))
    traces: list[CallTrace | None] = []

    class Seeing(SendingGuest):
        def release(self, instance_id: str, network: GuestNetwork, *, timeout_s: float,
                    trace: CallTrace | None = None) -> CommandResult:
            traces.append(trace)
            return super().release(instance_id, network, timeout_s=timeout_s, trace=trace)

    w.guest = Seeing()
    reads = w.cloud.reads
    assert w.ex.release(g, "i-a")
    assert w.guest.released == ["i-a"]
    assert traces[0] is not None and traces[0].not_holder_of == "eni-a"
    assert w.cloud.reads == reads + 1  # the network's read; the guard (the fence) reads nothing


def test_the_group_state_keeps_the_last_finished_failover_for_status() -> None:
    w = World()
    g = group()
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")).record
    last = w.journal.group_state("web").last_failover
    assert last is not None and last.id == rec.id and last.result is Result.COMPLETED
    assert last.steps == () and last.duration_s == rec.duration_s


def test_an_adoption_never_moves_the_eni_back_from_where_it_was_moved_by_hand() -> None:
    """Decided on a read showing i-a (a re-run of its guest step), run after the ENI was moved
    by hand to i-b: taking it back undid an adoption (trial P6)."""
    w = World(holder="i-b")
    g = group()
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-a", Trigger.ADOPT, "not serving")).record
    assert rec.result is Result.FAILED and "moved to i-b" in (rec.error or "")
    assert w.cloud.mutations == []
