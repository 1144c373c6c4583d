"""Every blocked decision's sentence, word for word, and the reason a flapping block keeps in
the journal (what `status` shows as `blocked_reason`): operators and scripts read these."""

from __future__ import annotations

import pytest

from failover.engine.decide import Kind
from failover.engine.view import EniSeen, GroupView
from failover.records import GroupState, TargetFailure
from tests.unit.engine.test_decide import NOW, one, view
from tests.unit.engine.test_loop import Rig

DOWN: dict[str, bool | None] = {"i-a": False, "i-b": True, "i-c": True}
WHY = "holder i-a is down by quorum"


def failed(instance: str, holder: str | None = None, configured: str | None = None) -> GroupState:
    """`instance` failed once, a second ago (its back-off runs one second more)."""
    return GroupState("web", holder=holder, configured=configured,
                      target_failures=(TargetFailure(instance, 1, NOW - 1, "boom"),))


CASES = [
    ("eni_unknown", view(DOWN, eni=EniSeen(None, None, error="no answer")),
     "the ENI's state is unknown (no answer); not acting on a guess"),
    ("foreign_holder", view(DOWN, holder="i-x", state=GroupState("web", holder="i-a", configured="i-a")),
     "the ENI is attached to i-x, not a member of web: the controller never detaches a non-member; "
     "detach it by hand"),
    ("paused", view(DOWN, paused=True),
     f"{WHY}; moving to i-b, but automatic failover is paused; run `failover resume web`"),
    ("retry_backoff", view({"i-a": True, "i-b": False, "i-c": False}, holder=None,
                           state=failed("i-a")),
     "the ENI is Available (nothing serves); i-a failed 1 time(s) (boom); retrying in 1 s"),
    ("no_standby", view({"i-a": False, "i-b": False, "i-c": False}, holder=None),
     "the ENI is Available (nothing serves) and no member is healthy and ready"),
    ("retry_backoff", view(DOWN | {"i-a": True}, state=failed("i-a", holder="i-a")),
     "the holder i-a is not configured: i-a failed 1 time(s); retrying in 1 s"),
    ("blocked", view(DOWN, state=GroupState("web", holder="i-a", configured="i-a", blocked=True,
                                             blocked_reason="too many")),
     f"{WHY}, but the group is blocked (too many); run `failover ack web`"),
    ("cooldown", view(DOWN, state=GroupState("web", holder="i-a", configured="i-a",
                                              cooldown_until=NOW + 30)),
     f"{WHY}, but the group is in cooldown for 30 s more"),
    ("flapping", view(DOWN, state=GroupState("web", holder="i-a", configured="i-a",
                                              recent_failovers=(NOW - 3, NOW - 2, NOW - 1))),
     f"{WHY}, but flapping: 3 failovers in 3600 s; run `failover ack web`"),
    ("no_standby", view({"i-a": False, "i-b": False, "i-c": None}),
     f"{WHY}, but no standby is healthy and ready"),
    ("retry_backoff", view({"i-a": False, "i-b": True, "i-c": False},
                           state=failed("i-b", holder="i-a", configured="i-a")),
     f"{WHY}, but i-b failed 1 time(s) (boom); retrying in 1 s"),
]


@pytest.mark.parametrize(("code", "v", "sentence"), CASES)
def test_each_block_says_why_in_the_same_words(code: str, v: GroupView, sentence: str) -> None:
    a = one(v)
    assert (a.kind, str(a.code), a.reason) == (Kind.BLOCK, code, sentence)


def test_a_flapping_block_keeps_its_reason_without_the_remedy_in_the_journal() -> None:
    r = Rig(flap_max_failovers=1)
    r.votes("i-a", False)
    r.votes("i-b", True)
    r.engine.tick()
    r.settle()
    r.votes("i-b", False)
    r.votes("i-a", True)
    r.engine.tick()
    state = r.journal.group_state("g0")
    assert (state.blocked, state.blocked_reason) == (
        True, "holder i-b is down by quorum, but flapping: 1 failovers in 3600 s")


