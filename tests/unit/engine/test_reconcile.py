"""Decide, level-triggered: the cloud's ENI against what the group needs, whoever moved it."""

from __future__ import annotations

from typing import Any

from failover.engine.decide import RETRY_BASE_S, GroupView, Kind, Snapshot, decide
from failover.engine.view import EniSeen
from failover.model import EniStatus, Result, StepName, StepStatus, Trigger
from failover.records import DrillRequest, FailoverRecord, GroupState, StepRecord, TargetFailure
from tests.unit.engine.test_decide import group

NOW = 10_000.0
UP = {"i-a": True, "i-b": True, "i-c": True}


def at(status: EniStatus | None, instance: str | None = None, **kw: Any) -> GroupView:
    state = kw.pop("state", GroupState("web", holder="i-a", configured="i-a"))
    return GroupView(group(), state, kw.pop("up", UP), eni=EniSeen(status, instance), **kw)


def one(v: GroupView, requests: tuple[DrillRequest, ...] = ()) -> Any:
    actions = decide(Snapshot(NOW, (v,), requests))
    assert len(actions) <= 1
    return actions[0] if actions else None


def test_served_by_its_configured_holder_means_nothing() -> None:
    assert one(at(EniStatus.IN_USE, "i-a")) is None


def test_no_read_since_our_last_move_waits() -> None:
    v = GroupView(group(), GroupState("web", holder="i-a", configured="i-a"), UP, eni=None)
    assert one(v) is None


def test_an_available_eni_goes_back_to_the_former_holder_when_it_is_healthy() -> None:
    a = one(at(EniStatus.AVAILABLE))  # a failed attach, or a detach by hand
    assert (a.kind, a.from_instance, a.to_instance) == (Kind.FAILOVER, None, "i-a")
    assert "rollback" in a.reason


def test_an_available_eni_goes_to_the_best_healthy_ready_member_despite_cooldown_and_block() -> None:
    state = GroupState("web", holder="i-a", configured="i-a", cooldown_until=NOW + 100, blocked=True)
    a = one(at(EniStatus.AVAILABLE, state=state, up={"i-a": False, "i-b": True, "i-c": True},
               ready={"i-b": False}))
    assert (a.kind, a.to_instance) == (Kind.FAILOVER, "i-c")


def test_an_available_eni_with_nobody_to_take_it_says_so() -> None:
    a = one(at(EniStatus.AVAILABLE, up={"i-a": False, "i-b": None, "i-c": False}))
    assert (a.kind, a.code) == (Kind.BLOCK, "no_standby") and "Available" in a.reason


def test_a_move_outside_the_controller_is_adopted_not_undone() -> None:
    a = one(at(EniStatus.IN_USE, "i-b"))
    assert (a.kind, a.from_instance, a.to_instance) == (Kind.ADOPT, "i-a", "i-b")
    assert "outside the controller" in a.reason and "journal had i-a" in a.reason


def test_an_adopted_holder_that_dies_is_failed_over_from_not_the_recorded_one() -> None:
    a = one(at(EniStatus.IN_USE, "i-b", up={"i-a": True, "i-b": False, "i-c": True}))
    assert (a.kind, a.from_instance, a.to_instance) == (Kind.FAILOVER, "i-b", "i-a")


def test_the_recorded_holder_going_down_means_nothing_once_the_eni_left_it() -> None:
    state = GroupState("web", holder="i-a", configured="i-b")
    assert one(at(EniStatus.IN_USE, "i-b", state=state, up={"i-a": False, "i-b": True})) is None


def test_a_release_never_runs_on_the_enis_current_holder() -> None:
    state = GroupState("web", holder="i-b", configured="i-b", pending_release=("i-a",))
    assert one(at(EniStatus.IN_USE, "i-a", state=state)).kind is Kind.ADOPT
    state = GroupState("web", holder="i-a", configured="i-a", pending_release=("i-a",))
    assert one(at(EniStatus.IN_USE, "i-a", state=state)) is None


def test_a_non_member_holder_is_left_to_an_operator_and_said_so() -> None:
    a = one(at(EniStatus.IN_USE, "i-other", up={"i-a": False, "i-b": True}))
    assert (a.kind, a.code) == (Kind.BLOCK, "foreign_holder")
    assert "not a member" in a.reason and "by hand" in a.reason
    req = DrillRequest("r1", "web", None, NOW, NOW + 60)
    assert one(at(EniStatus.IN_USE, "i-other"), (req,)).kind is Kind.REJECT


def test_an_unknown_eni_is_never_acted_on() -> None:
    a = one(at(None, up={"i-a": False, "i-b": True}))
    assert (a.kind, a.code) == (Kind.BLOCK, "eni_unknown")


def test_a_failed_guest_step_is_retried_after_a_back_off_then_the_next_standby() -> None:
    def state(count: int, ago: float) -> GroupState:
        return GroupState("web", holder="i-b", configured=None,
                          target_failures=(TargetFailure("i-b", count, NOW - ago, "agent offline"),))
    waiting = one(at(EniStatus.IN_USE, "i-b", state=state(1, 0.5)))
    assert (waiting.kind, waiting.code) == (Kind.BLOCK, "retry_backoff")
    again = one(at(EniStatus.IN_USE, "i-b", state=state(1, RETRY_BASE_S + 0.1)))
    assert (again.kind, again.to_instance) == (Kind.ADOPT, "i-b")
    assert "have not succeeded" in again.reason
    # Twice in a row: the next standby, whatever the cooldown.
    moved = one(at(EniStatus.IN_USE, "i-b", state=state(2, 0.1)))
    assert (moved.kind, moved.from_instance, moved.to_instance) == (Kind.FAILOVER, "i-b", "i-a")


def test_a_target_whose_attach_keeps_failing_is_passed_over_for_the_next() -> None:
    failures = (TargetFailure("i-b", 2, NOW - 1, "attach failed"),)
    state = GroupState("web", holder="i-a", configured="i-a", target_failures=failures)
    a = one(at(EniStatus.IN_USE, "i-a", state=state, up={"i-a": False, "i-b": True, "i-c": True}))
    assert (a.kind, a.to_instance) == (Kind.FAILOVER, "i-c")
    # Once forgotten, preference order again.
    old = GroupState("web", holder="i-a", configured="i-a",
                     target_failures=(TargetFailure("i-b", 2, NOW - 1000, "attach failed"),))
    assert one(at(EniStatus.IN_USE, "i-a", state=old, up={"i-a": False, "i-b": True})).to_instance == "i-b"


def test_one_failure_waits_for_its_back_off_before_the_next_is_tried() -> None:
    state = GroupState("web", holder="i-a", configured="i-a",
                       target_failures=(TargetFailure("i-b", 1, NOW - 0.5),))
    a = one(at(EniStatus.AVAILABLE, state=state, up={"i-a": False, "i-b": True, "i-c": True}))
    assert (a.kind, a.code) == (Kind.BLOCK, "retry_backoff") and "retrying in" in a.reason


def record(steps: tuple[StepRecord, ...] = ()) -> FailoverRecord:
    return FailoverRecord("f1", "web", "i-a", "i-b", Trigger.AUTO, "down", NOW - 5, 1, Result.RUNNING,
                          steps=steps)


def test_resume_abandons_when_its_target_went_away_before_the_attach() -> None:
    detached = (StepRecord(StepName.DETACH, NOW - 4, 1.0, status=StepStatus.OK),)
    down = {"i-a": False, "i-b": False, "i-c": True}
    a = one(at(EniStatus.AVAILABLE, up=down, unfinished=record(detached)))
    assert (a.kind, a.record.id) == (Kind.ABANDON, "f1") and "down by quorum" in a.reason
    unready = one(at(EniStatus.AVAILABLE, ready={"i-b": False}, unfinished=record(detached)))
    assert unready.kind is Kind.ABANDON and "not ready" in unready.reason
    # The attach had started (the cloud shows it): finish it (it may yet land).
    started = (*detached, StepRecord(StepName.ATTACH, NOW - 3))
    assert one(at(EniStatus.ATTACHING, "i-b", up=down, unfinished=record(started))).kind is Kind.RESUME
    assert one(at(EniStatus.AVAILABLE, unfinished=record(detached))).kind is Kind.RESUME


def test_an_attach_the_journal_shows_running_is_judged_started_by_the_cloud() -> None:
    """A leader writes the attach step before its call; the cloud may refuse every call (the
    ENI stays Available), and a new leader must not resume onto a target that died meanwhile."""
    started = record((StepRecord(StepName.DETACH, NOW - 4, 1.0, status=StepStatus.OK),
                      StepRecord(StepName.ATTACH, NOW - 3)))
    down = {"i-a": False, "i-b": False, "i-c": True}
    refused = one(at(EniStatus.AVAILABLE, up=down, unfinished=started))
    assert (refused.kind, refused.record.id, refused.to_instance) == (Kind.ABANDON, "f1", "i-b")
    assert "down by quorum" in refused.reason and "Available" in refused.reason
    unready = one(at(EniStatus.AVAILABLE, ready={"i-b": False}, unfinished=started))
    assert unready.kind is Kind.ABANDON and "not ready" in unready.reason
    # Half-done on the target, or shown without its instance while Attaching: finish it.
    for status, instance in ((EniStatus.ATTACHING, "i-b"), (EniStatus.IN_USE, "i-b"),
                             (EniStatus.ATTACHING, None)):
        assert one(at(status, instance, up=down, unfinished=started)).kind is Kind.RESUME
    # No read since taking office, or a read that did not say: wait, not guess.
    no_read = GroupView(group(), GroupState("web", holder="i-a", configured="i-a"), down,
                        unfinished=started)
    assert one(no_read) is None
    assert one(at(None, up=down, unfinished=started)) is None
    # A healthy, ready target: resume as before, whatever the ENI shows.
    assert one(at(EniStatus.AVAILABLE, unfinished=started)).kind is Kind.RESUME


def test_a_drill_names_the_clouds_holder_as_its_source() -> None:
    state = GroupState("web", holder="i-a", configured="i-b")
    a = one(at(EniStatus.IN_USE, "i-b", state=state), (DrillRequest("r1", "web", None, NOW, NOW + 60),))
    assert (a.kind, a.from_instance, a.to_instance) == (Kind.DRILL, "i-b", "i-a")


def test_a_holder_up_but_not_serving_gets_its_guest_step_rerun_then_a_failover() -> None:
    from failover.engine.decide import NOT_SERVING

    a = one(at(EniStatus.IN_USE, "i-a", serving=False))
    assert (a.kind, a.to_instance, a.not_serving) == (Kind.ADOPT, "i-a", True)
    assert "does not serve through the service IPs" in a.reason
    noted = GroupState("web", holder="i-a", configured="i-a",
                       target_failures=(TargetFailure("i-a", 1, NOW - 1, NOT_SERVING),))
    # The checks need fall + rise rounds to see the re-run's outcome: wait meanwhile.
    assert one(at(EniStatus.IN_USE, "i-a", state=noted, serving=False)) is None
    later = GroupState("web", holder="i-a", configured="i-a",
                       target_failures=(TargetFailure("i-a", 1, NOW - 60, NOT_SERVING),))
    moved = one(at(EniStatus.IN_USE, "i-a", state=later, serving=False))
    assert (moved.kind, moved.from_instance, moved.to_instance) == (Kind.FAILOVER, "i-a", "i-b")
    assert one(at(EniStatus.IN_USE, "i-a", state=later, serving=True)) is None
    assert one(at(EniStatus.IN_USE, "i-a", serving=None)) is None  # unknown is no reason to act


def test_served_needs_the_serving_signal_not_to_say_no() -> None:
    assert at(EniStatus.IN_USE, "i-a", serving=None).served
    assert not at(EniStatus.IN_USE, "i-a", serving=False).served


def test_never_moves_from_a_non_member_nor_acts_on_an_unknown_eni() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    verdict = st.sampled_from([True, False, None])
    statuses = st.sampled_from([None, *EniStatus])
    holders = st.sampled_from([None, "i-a", "i-b", "i-c", "i-other"])

    @settings(max_examples=300, deadline=None)
    @given(st.tuples(verdict, verdict, verdict), statuses, holders, holders, st.booleans())
    def check(v: tuple[bool | None, ...], status: EniStatus | None, holder: str | None,
              configured: str | None, drill: bool) -> None:
        up = dict(zip(["i-a", "i-b", "i-c"], v, strict=True))
        state = GroupState("web", holder="i-a", configured=configured)
        view = GroupView(group(), state, up, eni=EniSeen(status, holder))
        reqs = (DrillRequest("r", "web", None, NOW, NOW + 60),) if drill else ()
        a = one(view, reqs)
        moving = a is not None and a.kind in (Kind.FAILOVER, Kind.DRILL, Kind.ADOPT)
        if status is None or holder == "i-other":
            assert not moving
        if moving:
            assert a.from_instance in (None, "i-a", "i-b", "i-c")
            assert a.to_instance in ("i-a", "i-b", "i-c")
            assert a.kind is Kind.ADOPT or up[a.to_instance] is True

    check()


def test_a_fresh_not_serving_verdict_waits_a_round_for_the_holders_own_verdict() -> None:
    fresh = at(EniStatus.IN_USE, "i-a", serving=False, serving_since=NOW - 0.5)
    assert one(fresh) is None  # a crash shows as "down" by its own address within the round
    settled = at(EniStatus.IN_USE, "i-a", serving=False, serving_since=NOW - 1.5)
    assert one(settled).kind is Kind.ADOPT
    crashed = at(EniStatus.IN_USE, "i-a", serving=False, serving_since=NOW - 0.5,
                 up={"i-a": False, "i-b": True, "i-c": True})
    assert one(crashed).kind is Kind.FAILOVER


def test_the_view_dates_a_not_serving_quorum_from_its_latest_no_vote() -> None:
    from failover.engine.view import build_view
    from failover.records import Observation

    obs = {"serving@i-a": {c: Observation(c, "web", "serving@i-a", False, t)
                           for c, t in (("ctl-0", 5.0), ("ctl-1", 7.0))}}
    v = build_view(group(), GroupState("web", holder="i-a", configured="i-a"), obs, 3,
                   eni=EniSeen(EniStatus.IN_USE, "i-a"))
    assert (v.serving, v.serving_since) == (False, 7.0)


def _serving_votes(*votes: tuple[str, bool, float]) -> dict[str, Any]:
    from failover.records import Observation

    return {"serving@i-b": {c: Observation(c, "web", "serving@i-b", up, t) for c, up, t in votes}}


def test_no_votes_reached_before_the_holders_verify_do_not_rerun_its_guest_step() -> None:
    """A move just completed (verify passed at NOW - 0.05): the "no" votes were reached while
    the ENI was moving, or by a replica whose read still showed the old holder. Acting on them
    re-ran the guest step and then moved a serving holder away (trials P6, P9)."""
    from failover.engine.view import build_view

    h = group().health
    state = GroupState("web", holder="i-b", configured="i-b", configured_at=NOW - 0.05)
    stale = _serving_votes(("ctl-0", False, NOW - 3.0), ("ctl-1", False, NOW - 1.0),
                           ("ctl-2", False, NOW - 0.2))

    def view(votes: dict[str, Any], now: float, st: GroupState = state) -> GroupView:
        return build_view(group(), st, votes, 3, eni=EniSeen(EniStatus.IN_USE, "i-b"), now=now)

    v = view(stale, NOW)
    assert v.serving is None and v.served
    assert decide(Snapshot(NOW, (v,))) == []
    # A "no" reached by `fall` rounds all after the verify counts: the holder broke since.
    fresh_at = NOW - 0.05 + h.fall * h.interval_s
    broke = _serving_votes(("ctl-0", False, fresh_at), ("ctl-1", False, fresh_at + 0.1))
    assert view(broke, fresh_at + 0.2).serving is False
    # A stale "no" still standing once every replica has read the new holder and its checks
    # had time to rise: they never rose, the holder does not serve.
    late = NOW + 5.0 + (h.fall + h.rise + 2) * h.interval_s
    assert view(stale, late).serving is False
    # The votes of a holder configured before the journal kept the time count as before.
    assert view(stale, NOW, GroupState("web", holder="i-b", configured="i-b")).serving is False


def test_a_completed_move_dates_the_holders_configuration() -> None:
    from failover.engine import transitions

    rec = FailoverRecord("f1", "web", "i-a", "i-b", Trigger.AUTO, "test", NOW - 5, 1)
    st = transitions.served(group(), GroupState("web", holder="i-a", configured="i-a"), rec, NOW)
    assert (st.configured, st.configured_at) == ("i-b", NOW)
    assert GroupState.from_dict(st.to_dict()).configured_at == NOW
    assert transitions.moved(st, "i-c").configured_at == 0.0
