from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from failover.cloud.looks import RunTimes
from failover.cloud.waiting import Deadline, retry_delay
from harness.clock import FakeClock


@given(attempt=st.integers(0, 50), seed=st.integers(0, 2**32))
def test_retry_delay_is_jittered_within_bounds(attempt: int, seed: int) -> None:
    d = retry_delay(attempt, None, random.Random(seed))
    ceiling = min(2.0, 0.2 * 2**min(attempt, 16))
    assert ceiling / 2 <= d <= ceiling


@given(ms=st.integers(1, 60_000), seed=st.integers(0, 2**32))
def test_retry_delay_honours_retry_after_as_a_floor(ms: int, seed: int) -> None:
    d = retry_delay(0, ms, random.Random(seed))
    assert ms / 1000 <= d <= ms / 1000 * 1.2 + 1e-9


def test_retry_delays_differ_between_replicas() -> None:
    a = [retry_delay(2, None, random.Random(1)) for _ in range(1)]
    b = [retry_delay(2, None, random.Random(2)) for _ in range(1)]
    assert a != b


def test_deadline_counts_down() -> None:
    clock = FakeClock(1000.0)
    d = Deadline.after(clock, 5.0)
    assert d.remaining() == 5.0
    clock.sleep(4.0)
    assert d.remaining() == pytest.approx(1.0)
    clock.sleep(1.5)
    assert d.remaining() == 0.0


def test_run_times_aim_at_the_first_quartile_of_recent_runs_and_forget_old_ones() -> None:
    runs = RunTimes(keep_s=60.0, size=4)
    assert runs.first_look(0.0) is None  # nothing to go by: the plan's dense polls
    runs.record(0.0, 0.2)  # an outlier: its RunCommand answer came back late
    for at, seen in ((10.0, 0.9), (20.0, 0.4), (30.0, 0.5)):
        runs.record(at, seen)
    assert runs.first_look(30.0) == 0.4  # not the outlier
    runs.record(40.0, 0.45)  # only the last `size` runs count: the outlier is gone
    assert runs.first_look(40.0) == 0.45
    assert runs.first_look(85.0) == 0.45  # 0.9 and 0.4 were seen more than keep_s ago
    assert runs.first_look(200.0) is None


def test_command_looks_are_aimed_only_when_dense_ones_would_crowd_the_budget() -> None:
    runs = RunTimes()
    runs.record(0.0, 0.8)
    # Two describe actions at 20/s: 40 looks a second; a dense wait wants 10.
    assert runs.aim(1.0, waits=1, looks_per_s=10, capacity_per_s=40) is None
    assert runs.aim(1.0, waits=2, looks_per_s=10, capacity_per_s=40) is None
    assert runs.aim(1.0, waits=3, looks_per_s=10, capacity_per_s=40) == 0.8
    assert runs.aim(1.0, waits=1, looks_per_s=10, capacity_per_s=4) == 0.8  # a tight budget
