"""Decide: every branch from a snapshot to an action, and its reason."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from failover.config import GroupConfig
from failover.engine.decide import GroupView, Kind, Snapshot, decide
from failover.engine.view import EniSeen
from failover.model import EniStatus, Trigger
from failover.records import DrillRequest, FailoverRecord, GroupState

NOW = 10_000.0


def group(**over: Any) -> GroupConfig:
    doc: dict[str, Any] = {"name": "web", "network_interface": "eni-a", "members": ["i-a", "i-b", "i-c"],
                           "checks": [{"type": "tcp", "port": 80}]}
    doc.update(over)
    return GroupConfig.model_validate(doc)


def view(up: dict[str, bool | None], holder: str | None = "i-a", **kw: Any) -> GroupView:
    """The cloud shows the ENI InUse on `holder` (Available if None), configured there."""
    state = kw.pop("state", GroupState("web", holder=holder, configured=holder))
    eni = kw.pop("eni", EniSeen(EniStatus.IN_USE if holder else EniStatus.AVAILABLE, holder))
    return GroupView(kw.pop("config", group()), state, up, eni=eni, **kw)


def one(v: GroupView, requests: tuple[DrillRequest, ...] = ()) -> Any:
    actions = decide(Snapshot(NOW, (v,), requests))
    assert len(actions) <= 1
    return actions[0] if actions else None


def test_healthy_holder_means_nothing() -> None:
    assert one(view({"i-a": True, "i-b": True, "i-c": True})) is None


def test_unknown_verdict_is_not_down() -> None:
    assert one(view({"i-a": None, "i-b": True})) is None


def test_holder_down_fails_over_to_first_healthy_standby_in_order() -> None:
    a = one(view({"i-a": False, "i-b": False, "i-c": True}))
    assert (a.kind, a.from_instance, a.to_instance) == (Kind.FAILOVER, "i-a", "i-c")
    assert "i-a is down by quorum" in a.reason


def test_unready_standby_is_skipped() -> None:
    a = one(view({"i-a": False, "i-b": True, "i-c": True}, ready={"i-b": False}))
    assert a.to_instance == "i-c"


def test_no_healthy_standby_blocks() -> None:
    a = one(view({"i-a": False, "i-b": False, "i-c": None}))
    assert (a.kind, a.code) == (Kind.BLOCK, "no_standby")


def test_cooldown_blocks() -> None:
    a = one(view({"i-a": False, "i-b": True}, state=GroupState("web", holder="i-a", cooldown_until=NOW + 30)))
    assert (a.kind, a.code) == (Kind.BLOCK, "cooldown")
    assert "30 s" in a.reason


def test_flapping_blocks_and_asks_to_persist() -> None:
    state = GroupState("web", holder="i-a", recent_failovers=(NOW - 100, NOW - 50, NOW - 10))
    a = one(view({"i-a": False, "i-b": True}, state=state))
    assert (a.kind, a.code, a.persists) == (Kind.BLOCK, "flapping", True)
    assert "failover ack web" in a.reason


def test_old_failovers_outside_the_window_do_not_count() -> None:
    state = GroupState("web", holder="i-a", recent_failovers=(NOW - 7200, NOW - 5000, NOW - 4000))
    assert one(view({"i-a": False, "i-b": True}, state=state)).kind is Kind.FAILOVER


def test_blocked_group_stays_blocked() -> None:
    state = GroupState("web", holder="i-a", blocked=True, blocked_reason="flapping")
    assert one(view({"i-a": False, "i-b": True}, state=state)).code == "blocked"


def test_unfinished_failover_is_resumed_first() -> None:
    rec = FailoverRecord("f1", "web", "i-a", "i-b", Trigger.AUTO, "x", NOW - 5, 1)
    a = one(view({"i-a": False, "i-b": True}, unfinished=rec))
    assert (a.kind, a.record) == (Kind.RESUME, rec)


def test_running_group_is_left_alone() -> None:
    assert one(view({"i-a": False, "i-b": True}, running=True)) is None


def test_stranded_eni_gets_a_holder() -> None:
    a = one(view({"i-a": False, "i-b": True}, holder=None))
    assert (a.kind, a.from_instance, a.to_instance) == (Kind.FAILOVER, None, "i-b")


def drill(to: str | None = None, group_name: str = "web") -> DrillRequest:
    return DrillRequest("r1", group_name, to, NOW - 1, NOW + 60, "alice")


def test_drill_bypasses_cooldown_and_blocks() -> None:
    state = GroupState("web", holder="i-a", blocked=True, cooldown_until=NOW + 100)
    a = one(view({"i-a": True, "i-b": True}, state=state), (drill(),))
    assert (a.kind, a.from_instance, a.to_instance) == (Kind.DRILL, "i-a", "i-b")


def test_drill_to_explicit_target() -> None:
    a = one(view({"i-a": True, "i-b": True, "i-c": True}), (drill("i-c"),))
    assert a.to_instance == "i-c"


def test_drill_rejections() -> None:
    up: dict[str, bool | None] = {"i-a": True, "i-b": False, "i-c": True}
    assert "not a member" in one(view(up), (drill("i-x"),)).reason
    assert "already holds" in one(view(up), (drill("i-a"),)).reason
    assert "down by quorum" in one(view(up), (drill("i-b"),)).reason
    assert one(view({"i-a": True, "i-b": False, "i-c": False}), (drill(),)).kind is Kind.REJECT


def test_a_drill_waits_for_the_release_of_the_standby_it_needs() -> None:
    up: dict[str, bool | None] = {"i-a": True, "i-b": True}
    releasing = frozenset({"i-b"})
    assert one(view(up, releasing=releasing), (drill(),)) is None
    assert one(view(up, releasing=releasing), (drill("i-b"),)) is None
    # Once released it goes; a standby that is down while released is no reason to wait.
    assert one(view(up), (drill(),)).kind is Kind.DRILL
    down: dict[str, bool | None] = {"i-a": True, "i-b": False}
    assert one(view(down, releasing=releasing), (drill(),)).kind is Kind.REJECT


def test_drill_for_unknown_group_is_rejected() -> None:
    actions = decide(Snapshot(NOW, (view({"i-a": True}),), (drill(group_name="nope"),)))
    assert [a.kind for a in actions] == [Kind.REJECT]


def test_returned_former_holder_is_released() -> None:
    state = GroupState("web", holder="i-b", configured="i-b", pending_release=("i-a",))
    a = one(view({"i-a": True, "i-b": True}, "i-b", state=state))
    assert (a.kind, a.instance) == (Kind.RELEASE, "i-a")
    assert one(view({"i-a": False, "i-b": True}, "i-b", state=state)) is None


verdicts = st.sampled_from([True, False, None])


@given(st.tuples(verdicts, verdicts, verdicts), st.booleans(), st.floats(0, 1000))
def test_never_fails_over_to_the_holder_or_an_unhealthy_member(
    v: tuple[bool | None, bool | None, bool | None], blocked: bool, cooldown: float
) -> None:
    up = dict(zip(["i-a", "i-b", "i-c"], v, strict=True))
    state = GroupState("web", holder="i-a", configured="i-a", blocked=blocked,
                       cooldown_until=NOW - 500 + cooldown)
    a = one(view(up, state=state))
    if a is not None and a.kind is Kind.FAILOVER:
        assert a.to_instance != "i-a"
        assert up[a.to_instance] is True
        assert up["i-a"] is False
        assert not blocked
