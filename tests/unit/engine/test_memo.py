"""The tick's memo (engine/memo.py): a group is rebuilt and decided again when an input changes
or when a time its answer depends on comes, and not otherwise. The clock is a number here."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from failover.engine import memo as memo_module
from failover.engine.actions import Action, Kind
from failover.engine.decide import NOT_SERVING, Snapshot, decide_group
from failover.engine.ledger import Ledger
from failover.engine.memo import Sources, TickMemo
from failover.engine.view import EniSeen, GroupView
from failover.model import EniStatus
from failover.records import DrillRequest, GroupState, Observation, TargetFailure, serving_key
from tests.unit.engine.narrow import targeted
from tests.unit.engine.test_loop import CTLS, config

GROUPS = config().groups


def votes(instance: str, up: bool, at: float = 0.0) -> dict[str, Observation]:
    return {c: Observation(c, "g0", instance, up, at) for c in CTLS}


def sources(ledger: Ledger, observations: Mapping[str, Mapping[str, Mapping[str, Observation]]],
            seen: Mapping[str, EniSeen]) -> Sources:
    return Sources(GROUPS, (), ledger.version, 0.0, observations, len(CTLS), {}, None, seen, {})


class Counted:
    """decide_group, counted: how many groups the memo really decided."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, view: GroupView, now: float, requests: list[DrillRequest]) -> Action | None:
        self.calls += 1
        return decide_group(view, now, requests)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counted:
    c = Counted()
    monkeypatch.setattr(memo_module, "decide_group", c)
    return c


def tick(m: TickMemo, src: Sources, ledger: Ledger, now: float) -> tuple[list[GroupView], list[Action]]:
    views, fresh = m.views(src, now, ledger.recall)
    return fresh, m.decide(Snapshot(now, views))


IN_USE_ON_A = {"eni-0": EniSeen(EniStatus.IN_USE, "i-a", 1.0)}


def test_a_group_whose_inputs_did_not_change_is_decided_again_when_its_time_comes(counted: Counted) -> None:
    # The holder was re-configured after a "not serving" verdict; the serving checks get
    # (fall + rise) rounds after the back-off to see the re-run: nothing until 1002, then a move.
    ledger = Ledger()
    ledger.set_state("g0", GroupState("g0", holder="i-a", configured="i-a", configured_at=900.0,
                                      target_failures=(TargetFailure("i-a", 1, 995.0, NOT_SERVING),)))
    obs = {"g0": {"i-a": votes("i-a", True), "i-b": votes("i-b", True),
                  serving_key("i-a"): votes(serving_key("i-a"), False, at=990.0)}}
    src, m = sources(ledger, obs, IN_USE_ON_A), TickMemo()

    fresh, actions = tick(m, src, ledger, 1000.0)
    assert len(fresh) == 1 and actions == [] and counted.calls == 1
    fresh, actions = tick(m, src, ledger, 1001.0)
    assert fresh == [] and actions == [] and counted.calls == 1  # nothing changed: not decided
    fresh, actions = tick(m, src, ledger, 1002.5)  # the same inputs, past the settle time
    assert fresh == [] and counted.calls == 2
    assert [(a.kind, a.from_instance, a.to_instance) for a in targeted(actions)] == [(Kind.FAILOVER, "i-a", "i-b")]


def test_a_view_whose_inputs_did_not_change_is_rebuilt_when_its_votes_count_again(counted: Counted) -> None:
    # A "no" serving vote from before the holder's last verify does not count until every
    # replica had time to see it again (view.serving_votes): then it does, and is acted on.
    ledger = Ledger()
    ledger.set_state("g0", GroupState("g0", holder="i-a", configured="i-a", configured_at=1000.0))
    obs = {"g0": {"i-a": votes("i-a", True), "i-b": votes("i-b", True),
                  serving_key("i-a"): votes(serving_key("i-a"), False, at=999.0)}}
    src, m = sources(ledger, obs, IN_USE_ON_A), TickMemo()

    fresh, actions = tick(m, src, ledger, 1005.0)
    assert len(fresh) == 1 and fresh[0].serving is None and actions == []
    fresh, actions = tick(m, src, ledger, 1010.0)
    assert fresh == [] and actions == [] and counted.calls == 1
    fresh, actions = tick(m, src, ledger, 1011.0)  # 1000 + 5 + (3 + 2 + 1) x 1 s
    assert len(fresh) == 1 and fresh[0].serving is False
    assert [(a.kind, a.to_instance) for a in targeted(actions)] == [(Kind.ADOPT, "i-a")]


def test_a_new_read_that_saw_the_same_eni_is_no_new_input(counted: Counted) -> None:
    ledger = Ledger()
    ledger.set_state("g0", GroupState("g0", holder="i-a", configured="i-a", configured_at=1.0))
    obs = {"g0": {"i-a": votes("i-a", True), "i-b": votes("i-b", True)}}
    m = TickMemo()
    assert len(tick(m, sources(ledger, obs, IN_USE_ON_A), ledger, 100.0)[0]) == 1
    again = {"eni-0": EniSeen(EniStatus.IN_USE, "i-a", 2.0)}  # the next second's read
    assert tick(m, sources(ledger, obs, again), ledger, 101.0) == ([], []) and counted.calls == 1
    moved = {"eni-0": EniSeen(EniStatus.IN_USE, "i-b", 3.0)}  # moved by hand
    fresh, actions = tick(m, sources(ledger, obs, moved), ledger, 102.0)
    assert fresh[0].holder == "i-b" and [a.kind for a in actions] == [Kind.ADOPT]


def test_a_changed_input_is_seen_at_the_next_tick(counted: Counted) -> None:
    ledger = Ledger()
    ledger.set_state("g0", GroupState("g0", holder="i-a", configured="i-a", configured_at=1.0))
    obs = {"g0": {"i-a": votes("i-a", True), "i-b": votes("i-b", True)}}
    m = TickMemo()
    assert tick(m, sources(ledger, obs, IN_USE_ON_A), ledger, 100.0)[1] == []
    # Detached by hand: the next read shows it Available, and the ENI is attached back.
    seen = {"eni-0": EniSeen(EniStatus.AVAILABLE, None, 2.0)}
    fresh, actions = tick(m, sources(ledger, obs, seen), ledger, 100.05)
    assert len(fresh) == 1 and [(a.kind, a.to_instance) for a in targeted(actions)] == [(Kind.FAILOVER, "i-a")]
    # An action is decided again every tick (its reason is of that instant), as before.
    assert tick(m, sources(ledger, obs, seen), ledger, 100.1)[1] == actions
    assert counted.calls == 3
    # A vote changes (a new snapshot, equal elsewhere): the group is rebuilt with it.
    obs = {"g0": {**obs["g0"], "i-a": votes("i-a", False)}}
    fresh, actions = tick(m, sources(ledger, obs, seen), ledger, 100.15)
    assert len(fresh) == 1 and fresh[0].member_up["i-a"] is False
    assert [(a.kind, a.to_instance) for a in targeted(actions)] == [(Kind.FAILOVER, "i-b")]
    # The ledger changes (a failover starts): rebuilt, and nothing more is started.
    ledger.claim("g0", lambda: None)  # type: ignore[arg-type,return-value]
    fresh, actions = tick(m, sources(ledger, obs, seen), ledger, 100.2)
    assert len(fresh) == 1 and fresh[0].running and actions == []


def test_a_clock_that_steps_back_forgets_what_it_remembered(counted: Counted) -> None:
    ledger = Ledger()
    ledger.set_state("g0", GroupState("g0", holder="i-a", configured="i-a", configured_at=1.0))
    obs = {"g0": {"i-a": votes("i-a", True), "i-b": votes("i-b", True)}}
    src, m = sources(ledger, obs, IN_USE_ON_A), TickMemo()
    assert len(tick(m, src, ledger, 100.0)[0]) == 1
    assert tick(m, src, ledger, 100.1)[0] == []
    assert len(tick(m, src, ledger, 50.0)[0]) == 1 and counted.calls == 2
