"""The account's limit split across replicas, and routine calls that wait for their slot."""

from __future__ import annotations

import pytest

from failover.cloud.budget import SHARED, ApiBudget, BudgetExhausted
from failover.model import Priority
from harness.clock import FakeClock

SHARED_ACTION = "DescribeInstances"
LEADER_ONLY = "AttachNetworkInterface"


def sent_in_window(budget: ApiBudget, clock: FakeClock, action: str, priority: Priority) -> int:
    """Calls that go out within one window (1 s here) from the first: routine calls are paced
    over it, failover calls take what is left at once."""
    end = clock.t + budget.burst / budget.rate_per_s - 1e-6
    n = 0
    while True:
        try:
            budget.acquire(action, priority, max_wait_s=max(0.0, end - clock.t))
        except BudgetExhausted:
            return n
        n += 1


def test_the_shared_reads_are_the_ones_every_replica_makes() -> None:
    assert SHARED_ACTION in SHARED and LEADER_ONLY not in SHARED


@pytest.mark.parametrize("replicas", [1, 2, 3, 5])
def test_replicas_together_never_pass_the_account_limit(replicas: int) -> None:
    """n replicas' routine shares plus one leader's failover reserve fit in one burst."""
    clock = FakeClock(1000.0)
    budgets = [ApiBudget(20.0, 20, 0.3, clock=clock) for _ in range(replicas)]
    for b in budgets:
        b.set_replicas(replicas)
    start = clock.t
    routine = []
    for b in budgets:
        clock.t = start  # every replica in the same second
        routine.append(sent_in_window(b, clock, SHARED_ACTION, Priority.ROUTINE))
    assert routine == [14 // replicas] * replicas
    # The leader (any one of them) may then still spend the reserve on the same action, and
    # what rounding the shares down left over: the account's window is used, never passed.
    clock.t = start
    reserve = sent_in_window(budgets[0], clock, SHARED_ACTION, Priority.FAILOVER)
    assert reserve >= 6
    assert sum(routine) + reserve == 20


def test_a_leader_only_action_keeps_the_whole_window() -> None:
    clock = FakeClock(1000.0)
    b = ApiBudget(20.0, 20, 0.3, clock=clock)
    b.set_replicas(3)
    assert sent_in_window(b, clock, LEADER_ONLY, Priority.ROUTINE) == 14
    clock.t = 1000.0
    assert sent_in_window(b, clock, LEADER_ONLY, Priority.FAILOVER) == 6


def test_a_share_change_applies_to_windows_already_in_use() -> None:
    clock = FakeClock(1000.0)
    b = ApiBudget(20.0, 20, 0.3, clock=clock)
    assert sent_in_window(b, clock, SHARED_ACTION, Priority.ROUTINE) == 14
    clock.t += 2.0  # the window (1 s) emptied
    b.set_replicas(2)
    assert sent_in_window(b, clock, SHARED_ACTION, Priority.ROUTINE) == 7
    assert b.routine_rate(SHARED_ACTION) == pytest.approx(7.0)


def test_routine_calls_wait_for_their_slot_within_the_callers_bound() -> None:
    clock = FakeClock(1000.0)
    b = ApiBudget(10.0, 10, 0.3, clock=clock)  # 7 routine calls a second, 1/7 s apart
    waits = [b.acquire(SHARED_ACTION, Priority.ROUTINE, max_wait_s=5.0) for _ in range(8)]
    # Each waited for its turn, none failed; the eighth is the first call's slot come back.
    assert waits == pytest.approx([0.0] + [1 / 7] * 7)
    assert clock.t == pytest.approx(1001.0)


def test_a_slot_beyond_the_bound_fails_at_once_and_says_when_it_comes() -> None:
    clock = FakeClock(1000.0)
    b = ApiBudget(1.0, 2, 0.0, clock=clock)  # 2 calls in any 2 s, one a second
    b.acquire(SHARED_ACTION, Priority.ROUTINE, max_wait_s=0.0)
    assert b.acquire(SHARED_ACTION, Priority.ROUTINE, max_wait_s=1.0) == pytest.approx(1.0)
    with pytest.raises(BudgetExhausted) as exc:  # the first call leaves the window at 2 s
        b.acquire(SHARED_ACTION, Priority.ROUTINE, max_wait_s=0.5)
    assert exc.value.retry_in_s == pytest.approx(1.0)
    assert clock.slept == [pytest.approx(1.0)]  # no waiting for a slot that cannot come in time
    assert "1 replica(s)" in str(exc.value)
