from __future__ import annotations

import threading

import pytest

from failover.cloud import errors
from failover.cloud.budget import ApiBudget, TokenBucket, shared_budget
from failover.cloud.waiting import SystemClock
from failover.model import CloudError, ErrorKind, Priority
from tests.unit.cloud.fakes import ManualClock


def test_bucket_refills_at_rate_up_to_burst() -> None:
    b = TokenBucket(rate_per_s=2.0, burst=4.0, tokens=0.0, updated_at=0.0)
    b.refill(1.0)
    assert b.tokens == pytest.approx(2.0)
    b.refill(100.0)
    assert b.tokens == 4.0


def test_bucket_take_respects_floor_and_says_how_long() -> None:
    b = TokenBucket(rate_per_s=1.0, burst=5.0, tokens=3.0, updated_at=0.0)
    assert b.take(0.0, floor=2.0) == 0.0  # 3 -> 2, the floor
    assert b.take(0.0, floor=2.0) == pytest.approx(1.0)  # needs one more second
    assert b.take(0.0, floor=0.0) == 0.0  # a failover call goes below the floor
    assert b.tokens == pytest.approx(1.0)


def test_reserve_keeps_failover_going_when_routine_calls_exhaust_the_budget() -> None:
    clock = ManualClock()
    budget = ApiBudget(1.0, 10, 0.3, clock=clock, routine_max_wait_s=0.5)
    for _ in range(7):  # 10 tokens, 3 of them reserved
        budget.acquire("DescribeInstanceStatus", Priority.ROUTINE, max_wait_s=0.0)
    with pytest.raises(CloudError) as exc:
        budget.acquire("DescribeInstanceStatus", Priority.ROUTINE, max_wait_s=10.0)
    assert exc.value.kind is ErrorKind.RETRYABLE
    assert exc.value.code == errors.BUDGET
    assert "local API budget exhausted" in str(exc.value)
    assert clock.slept == []  # a wait longer than the bound is refused at once, not slept
    for _ in range(3):
        assert budget.acquire("DescribeInstanceStatus", Priority.FAILOVER, max_wait_s=0.0) == 0.0
    # The reserve is spent; a failover call now waits for the refill (bounded by its deadline).
    waited = budget.acquire("DescribeInstanceStatus", Priority.FAILOVER, max_wait_s=5.0)
    assert waited == pytest.approx(1.0)


def test_buckets_are_per_action() -> None:
    clock = ManualClock()
    budget = ApiBudget(1.0, 2, 0.0, clock=clock, routine_max_wait_s=0.0)
    budget.acquire("A", Priority.ROUTINE, max_wait_s=0)
    budget.acquire("A", Priority.ROUTINE, max_wait_s=0)
    with pytest.raises(CloudError):
        budget.acquire("A", Priority.ROUTINE, max_wait_s=0)
    budget.acquire("B", Priority.ROUTINE, max_wait_s=0)


def test_routine_waits_briefly_for_a_token_within_its_bound() -> None:
    clock = ManualClock()
    budget = ApiBudget(10.0, 1, 0.0, clock=clock, routine_max_wait_s=1.0)
    budget.acquire("A", Priority.ROUTINE, max_wait_s=5.0)
    waited = budget.acquire("A", Priority.ROUTINE, max_wait_s=5.0)
    assert waited == pytest.approx(0.1)


def test_routine_always_keeps_one_token_of_its_own() -> None:
    budget = ApiBudget(1.0, 1, 0.9, clock=ManualClock())
    assert budget.reserve == 0.0
    budget.acquire("A", Priority.ROUTINE, max_wait_s=0)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        ApiBudget(0.0, 1, 0.1, clock=ManualClock())


def test_thread_safe_no_token_spent_twice() -> None:
    budget = ApiBudget(0.001, 50, 0.0, clock=SystemClock(), routine_max_wait_s=0.0)
    got: list[int] = []
    lock = threading.Lock()

    def spend() -> None:
        n = 0
        for _ in range(30):
            try:
                budget.acquire("A", Priority.ROUTINE, max_wait_s=0.0)
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


def test_failover_calls_book_tokens_first_come_first_served() -> None:
    clock = ManualClock()
    budget = ApiBudget(10.0, 1, 0.0, clock=clock)
    bucket = TokenBucket(10.0, 1.0, 1.0, 0.0)
    # Five failovers asking at the same instant get the next five slots, 0.1 s apart, in order.
    assert [bucket.reserve(0.0, 10.0) for _ in range(5)] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert bucket.reserve(0.0, 0.45) is None and bucket.tokens == pytest.approx(-4.0)  # nothing booked
    budget.acquire("A", Priority.FAILOVER, max_wait_s=1.0)
    assert budget.acquire("A", Priority.FAILOVER, max_wait_s=1.0) == pytest.approx(0.1)


def test_routine_calls_queue_behind_booked_failover_tokens() -> None:
    bucket = TokenBucket(10.0, 1.0, 1.0, 0.0)
    for _ in range(3):
        bucket.reserve(0.0, 10.0)  # 1 token and 2 booked ahead: the bucket owes two
    assert bucket.take(0.0, floor=0.0) == pytest.approx(0.3)  # a routine call comes after them
    assert bucket.take(0.3, floor=0.0) == 0.0
