from __future__ import annotations

import threading

import pytest

from failover.cloud import errors
from failover.cloud.budget import ANSWER_POLL_S, ApiBudget, CallWindow, shared_budget
from failover.model import CloudError, ErrorKind, Priority
from failover.ports import SystemClock
from harness.clock import FakeClock


def test_routine_calls_are_paced_evenly_over_their_share_of_the_window() -> None:
    w = CallWindow(rate_per_s=2.0, burst=4)  # at most 4 calls in any 2 s: one per 0.5 s
    assert w.take(0.0, keep=0.0) == 0.0
    assert w.take(0.0, keep=0.0) == pytest.approx(0.5)  # not a clump: the next one in 0.5 s
    assert [w.take(t, keep=0.0) for t in (0.5, 1.0, 1.5, 2.0)] == [0.0] * 4
    assert w.counted(2.0) == 4  # the call at 0.0 aged out; 2.0 counts
    kept = CallWindow(rate_per_s=2.0, burst=4)  # 2 of 4 reserved: 2 routine calls per 2 s
    assert kept.take(0.0, keep=2.0) == 0.0
    assert kept.take(0.5, keep=2.0) == pytest.approx(0.5)  # paced over its share: 1 s apart


def test_window_take_leaves_the_reserve_and_says_how_long() -> None:
    w = CallWindow(rate_per_s=1.0, burst=5)  # a 5 s window
    for _ in range(2):
        w.book(0.0, 10.0)  # two failover calls at 0.0
    assert w.take(0.0, keep=2.0) == 0.0  # 3 of 5 used: the other 2 are the reserve's
    assert w.take(4.0, keep=2.0) == pytest.approx(1.0)  # the calls at 0.0 leave at 5.0
    assert w.take(4.0, keep=0.0) == 0.0  # a call that may spend the reserve goes now


def test_window_never_holds_more_than_burst_calls_in_any_span() -> None:
    """Whatever mix of routine calls and bookings: the gateway's own count never overflows."""
    import random
    rng = random.Random(7)
    w, now, sent = CallWindow(rate_per_s=10.0, burst=10), 0.0, []
    for _ in range(2000):
        now += rng.choice((0.0, 0.0, 0.01, 0.05, 0.2))
        if rng.random() < 0.5:
            wait = w.book(now, max_wait_s=2.0)
            if wait is not None:
                sent.append(now + wait)
        elif w.take(now, keep=rng.choice((0.0, 3.0))) == 0.0:
            sent.append(now)
    sent.sort()
    assert len(sent) > 500
    assert all(sent[i + 10] - sent[i] >= 1.0 - 1e-6 for i in range(len(sent) - 10))


def test_reserve_keeps_failover_going_when_routine_calls_exhaust_the_budget() -> None:
    clock = FakeClock(1000.0)
    budget = ApiBudget(1.0, 10, 0.3, clock=clock)  # a 10 s window
    for _ in range(7):  # 10 calls a window, 3 of them reserved: 7 routine ones, 10/7 s apart
        budget.acquire("DescribeInstanceStatus", Priority.ROUTINE, max_wait_s=5.0)
    assert clock.t == pytest.approx(1000.0 + 6 * 10 / 7)
    slept = len(clock.slept)
    with pytest.raises(CloudError) as exc:  # the window holds 7: a slot at 1010, past the bound
        budget.acquire("DescribeInstanceStatus", Priority.ROUTINE, max_wait_s=1.0)
    assert exc.value.kind is ErrorKind.RETRYABLE
    assert exc.value.code == errors.BUDGET
    assert "local API budget exhausted" in str(exc.value)
    assert len(clock.slept) == slept  # a wait longer than the bound is refused at once, not slept
    for _ in range(3):
        assert budget.acquire("DescribeInstanceStatus", Priority.FAILOVER, max_wait_s=0.0) == 0.0
    # The reserve is spent; a failover call now waits for the window (bounded by its deadline):
    # the first routine call leaves it at 1010.
    with pytest.raises(CloudError):
        budget.acquire("DescribeInstanceStatus", Priority.FAILOVER, max_wait_s=1.0)
    waited = budget.acquire("DescribeInstanceStatus", Priority.FAILOVER, max_wait_s=10.0)
    assert waited == pytest.approx(10 - 6 * 10 / 7)


def test_buckets_are_per_action() -> None:
    clock = FakeClock(1000.0)
    budget = ApiBudget(1.0, 2, 0.0, clock=clock, routine_max_wait_s=0.0)
    budget.acquire("A", Priority.ROUTINE, max_wait_s=0)
    with pytest.raises(CloudError):
        budget.acquire("A", Priority.ROUTINE, max_wait_s=0)  # paced: A's next call in 1 s
    budget.acquire("B", Priority.ROUTINE, max_wait_s=0)


def test_routine_waits_briefly_for_a_token_within_its_bound() -> None:
    clock = FakeClock(1000.0)
    budget = ApiBudget(10.0, 1, 0.0, clock=clock, routine_max_wait_s=1.0)
    budget.acquire("A", Priority.ROUTINE, max_wait_s=5.0)
    waited = budget.acquire("A", Priority.ROUTINE, max_wait_s=5.0)
    assert waited == pytest.approx(0.1)


def test_routine_always_keeps_one_token_of_its_own() -> None:
    budget = ApiBudget(1.0, 1, 0.9, clock=FakeClock(1000.0))
    assert budget.reserve == 0.0
    budget.acquire("A", Priority.ROUTINE, max_wait_s=0)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        ApiBudget(0.0, 1, 0.1, clock=FakeClock(1000.0))


def test_thread_safe_no_token_spent_twice() -> None:
    budget = ApiBudget(0.001, 50, 0.0, clock=SystemClock(), routine_max_wait_s=0.0)
    got: list[int] = []
    lock = threading.Lock()

    def spend() -> None:
        n = 0
        for _ in range(30):
            try:  # failover calls: they book the window's slots without pacing
                budget.acquire("A", Priority.FAILOVER, max_wait_s=0.0)
                n += 1
            except CloudError:
                pass
        with lock:
            got.append(n)

    threads = [threading.Thread(target=spend) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(got) == 50


def test_shared_budget_is_one_per_process_and_settings() -> None:
    clock = SystemClock()
    a = shared_budget(3.0, 7, 0.2, clock=clock)
    assert shared_budget(3.0, 7, 0.2, clock=clock) is a
    assert shared_budget(3.0, 8, 0.2, clock=clock) is not a


def test_failover_calls_book_slots_first_come_first_served() -> None:
    clock = FakeClock(1000.0)
    budget = ApiBudget(10.0, 1, 0.0, clock=clock)
    paced = CallWindow(10.0, 1)
    # Five failovers asking at the same instant get the next five slots, 0.1 s apart, in order.
    assert [paced.book(0.0, 10.0) for _ in range(5)] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert paced.book(0.0, 0.45) is None and paced.counted(0.0) == 5  # nothing booked
    budget.acquire("A", Priority.FAILOVER, max_wait_s=1.0)
    assert budget.acquire("A", Priority.FAILOVER, max_wait_s=1.0) == pytest.approx(0.1)


def test_a_burst_of_bookings_goes_out_burst_at_a_time() -> None:
    """25 failovers on a 10-per-second window: 10 now, 10 a window later, 5 after that."""
    w = CallWindow(9.5, 10)
    waits = [w.book(0.0, 60.0) for _ in range(25)]
    assert waits == pytest.approx([0.0] * 10 + [10 / 9.5] * 10 + [20 / 9.5] * 5)


def test_routine_calls_queue_behind_booked_failover_slots() -> None:
    paced = CallWindow(10.0, 1)
    for _ in range(3):
        paced.book(0.0, 10.0)  # slots at 0.0, 0.1 and 0.2
    assert paced.take(0.0, keep=0.0) == pytest.approx(0.3)  # a routine call comes after them
    assert paced.take(0.3, keep=0.0) == 0.0


def test_a_routine_call_may_go_before_booked_slots_when_the_window_has_room() -> None:
    w = CallWindow(10.0, 10)
    for _ in range(12):
        w.book(0.0, 10.0)  # 10 now, 2 booked at 1.0
    assert w.take(0.5, keep=0.0) > 0  # the window of 0.0-1.0 is full
    assert w.counted(1.0) == 2
    assert w.take(1.0, keep=3.0) == 0.0  # 2 booked + this one leave the 3 reserved


def test_quickest_of_equivalent_actions_is_the_one_with_the_nearest_slot() -> None:
    clock = FakeClock(1000.0)
    budget = ApiBudget(10.0, 2, 0.0, clock=clock)
    pair = ("DescribeInvocationResults", "DescribeInvocations")
    assert budget.quickest(pair) == pair[0]  # both free: the first
    for _ in range(2):
        budget.acquire(pair[0], Priority.FAILOVER, max_wait_s=0.0)
    assert budget.quickest(pair) == pair[1]  # the first's window is full until 0.2 s
    clock.t += 0.1
    for _ in range(2):
        budget.acquire(pair[1], Priority.FAILOVER, max_wait_s=0.0)  # the second's: until 0.3 s
    assert clock.slept == []
    assert budget.quickest(pair) == pair[0]


def test_a_moved_slot_leaves_the_window_count_unchanged() -> None:
    w = CallWindow(10.0, 10)
    for _ in range(3):
        w.book(0.0, 10.0)
    w.move(0.0, 0.3)
    assert list(w.times) == [0.0, 0.0, 0.3]
    w.move(5.0, 5.0)  # a slot already out of the window: only the new time counts
    assert w.counted(5.0) == 1


def test_a_call_counts_until_a_span_after_its_answer() -> None:
    """The gateway counts a call at some instant between its leaving and its answer: a late
    sender, or a gateway that counted late (its own queue), must not put two slots' calls in
    one of its seconds. Bookings stay slots; departures wait for the answered ones to age."""
    w = CallWindow(rate_per_s=10.0, burst=10)  # at most 10 calls in any 1 s
    for _ in range(10):
        assert w.send_in(0.0) == 0.0
        w.out += 1
    assert w.send_in(0.5) == ANSWER_POLL_S  # ten out, none answered: only answers free places
    for t in [0.02] * 9 + [0.3]:  # nine answered at once, the tenth 300 ms later
        w.out -= 1
        w.answered.append(t)
    assert w.send_in(1.02) == 0.0  # the nine aged out
    w.out += 1
    for _ in range(8):
        w.out += 1
    assert w.send_in(1.02) == pytest.approx(0.28)  # the late answer counts until 1.3


def test_departures_are_noted_and_a_refused_call_is_not_counted() -> None:
    clock = FakeClock()
    b = ApiBudget(rate_per_s=2.0, burst=2, reserve_share=0.0, clock=clock)
    assert b.sending("A", Priority.FAILOVER) == 0.0
    b.answered("A", counted=True)
    assert b.sending("A", Priority.FAILOVER) == 0.0
    assert b.sending("A", Priority.FAILOVER) == pytest.approx(1.0)  # one answered now, one out: wait for the first
    b.answered("A", counted=False)  # flow control refused it: the gateway did not count it
    assert b.sending("A", Priority.FAILOVER) == 0.0
    assert b.sending("B", Priority.FAILOVER) == 0.0  # each action on its own


def test_a_shared_reads_routine_calls_leave_within_the_replicas_share() -> None:
    """Three replicas: each may have its routine share of a shared read counted by the gateway
    at once, whatever answers come late; the rest of its window is the leader's failover
    calls' only."""
    b = ApiBudget(rate_per_s=20.0, burst=20, reserve_share=0.3, clock=FakeClock())
    b.set_replicas(3)
    share = b.routine_calls("DescribeNetworkInterfaces")
    assert share == 4
    for _ in range(share):
        assert b.sending("DescribeNetworkInterfaces", Priority.ROUTINE) == 0.0
    assert b.sending("DescribeNetworkInterfaces", Priority.ROUTINE) == ANSWER_POLL_S
    assert b.sending("DescribeNetworkInterfaces", Priority.FAILOVER) == 0.0
    assert b.sending("DetachNetworkInterface", Priority.ROUTINE) == 0.0  # the leader's alone
