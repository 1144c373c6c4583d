"""The poll plans of the cloud waits: dense where a step is likely to end, bounded everywhere."""

from __future__ import annotations

import itertools
import math
import random
import statistics
from dataclasses import replace
from statistics import NormalDist

import pytest
from hypothesis import given
from hypothesis import strategies as st

from failover.cloud.waiting import (
    ATTACH,
    DETACH,
    GROWING,
    PollPlan,
    PollPlans,
    PollSchedule,
    poll_intervals,
)

# Step durations drawn here, not from the emulator: the plans must hold for clouds other
# than the one the emulator models (median, p99 in seconds; log-normal shapes).
LAWS = {"emulator's own (5 s, 30 s)": (5.0, 30.0), "fast (2 s, 10 s)": (2.0, 10.0),
        "slow (15 s, 60 s)": (15.0, 60.0)}


def lognormal(median_s: float, p99_s: float, u: float) -> float:
    sigma = math.log(p99_s / median_s) / NormalDist().inv_cdf(0.99)
    return median_s * math.exp(sigma * NormalDist().inv_cdf(min(max(u, 1e-12), 1 - 1e-12)))

PLANS = [ATTACH, DETACH, GROWING, PollPlan(max_polls=5), PollPlan.around(5.0, 30.0, max_polls=12)]


def looks(plan: PollPlan, timeout_s: float) -> list[float]:
    """The times (since the wait began) of the looks that happen before the timeout."""
    out: list[float] = []
    elapsed = 0.0
    for interval in poll_intervals(plan, timeout_s):
        elapsed += interval
        if elapsed >= timeout_s:
            return out
        out.append(elapsed)
    raise AssertionError("unreachable")


@given(plan=st.sampled_from(PLANS), timeout_s=st.floats(0.1, 3600.0))
def test_polls_per_wait_never_exceed_the_bound(plan: PollPlan, timeout_s: float) -> None:
    assert len(looks(plan, timeout_s)) < plan.max_polls


@pytest.mark.parametrize("plan", [ATTACH, DETACH])
@pytest.mark.parametrize("timeout_s", [5.0, 10.0, 30.0])
def test_intervals_are_bounded_for_the_policy_timeouts(plan: PollPlan, timeout_s: float) -> None:
    got = [b - a for a, b in zip([0.0, *looks(plan, timeout_s)], looks(plan, timeout_s), strict=False)]
    assert got and min(got) >= plan.first_s - 1e-9
    assert max(got) <= plan.cap_s + 1e-9


def test_dense_through_the_default_timeout() -> None:
    times = looks(ATTACH, 30.0)
    # Through the whole default timeout: a step drawn far in the tail is seen as fast.
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps and max(gaps) <= ATTACH.dense_s + 1e-9
    assert times[:3] == pytest.approx([0.15, 0.35, 0.55])  # an instant cloud is seen at once
    assert times[-1] > 29.5 and len(times) <= ATTACH.max_polls
    # A longer timeout: past the law's p99 the polls back off again.
    tail = [t for t in looks(ATTACH, 120.0) if t > ATTACH.dense_until_s]
    assert len(tail) < 0.25 * ATTACH.max_polls + 1


def test_schedule_follows_the_real_elapsed_time() -> None:
    """Slow answers do not shift the dense window: the caller passes the time really elapsed."""
    s = PollSchedule(DETACH, 30.0)
    assert s.next(0.0) == pytest.approx(0.15)
    assert [s.next(5.0), s.next(5.3)] == pytest.approx([DETACH.dense_s, DETACH.dense_s])  # in the window
    past = [s.next(31.0 + i) for i in range(5)]  # past it: backing off from the dense spacing
    assert past == pytest.approx([0.2, 0.3, 0.45, 0.675, 1.0])


def test_growing_plan_is_the_old_back_off() -> None:
    it = poll_intervals()
    got = [next(it) for _ in range(10)]
    assert got[:3] == pytest.approx([0.15, 0.225, 0.3375])
    assert got[-1] == GROWING.cap_s


def test_scaled_plans_keep_counts_and_shrink_times() -> None:
    fast = PollPlans().scaled(0.1)
    assert fast.attach.dense_s == pytest.approx(0.02)
    assert fast.attach.dense_until_s == pytest.approx(ATTACH.dense_until_s * 0.1)
    assert fast.attach.max_polls == ATTACH.max_polls
    assert len(looks(fast.attach, 3.0)) == len(looks(ATTACH, 30.0))


def lags(plan: PollPlan, law: tuple[float, float], rtt_s: float = 0.03,
         n: int = 1500) -> tuple[list[float], list[int]]:
    """Noticing lag and looks per wait, for steps ending at times drawn from `law` (pure)."""
    rng = random.Random(11)
    times = looks(plan, 30.0)  # the policy's default timeouts
    out, counts = [], []
    for _ in range(n):
        end = lognormal(*law, rng.random())
        if end > times[-1]:
            continue  # past the timeout: a stalled step, not a lag
        i = next(i for i, t in enumerate(times) if t + rtt_s / 2 >= end)
        out.append(times[i] + rtt_s - end)
        counts.append(i + 2)  # the first read, then the looks up to the one that saw it
    return out, counts


@pytest.mark.parametrize("plan", [ATTACH, DETACH])
@pytest.mark.parametrize("law", LAWS.values(), ids=list(LAWS))
def test_the_dense_plan_notices_a_finished_step_within_250_ms_median(plan: PollPlan,
                                                                     law: tuple[float, float]) -> None:
    """Behaviour, whatever the cloud's law: a finished step is seen about one dense interval
    late, where the old back-off was seconds late, for a bounded number of describes."""
    new, new_calls = lags(plan, law)
    assert max(new) <= plan.dense_s + 0.03 + 1e-9  # within the timeout, never worse than one interval
    old, _old_calls = lags(replace(GROWING, cap_s=2.0), law)  # the back-off as it was, 2 s cap
    assert statistics.median(new) <= 0.25
    assert statistics.median(new) < statistics.median(old) / 2  # the plain x1.5 back-off is far later
    # bounded: about one describe per dense interval of waiting (+ the first read), whatever the law
    rng = random.Random(11)
    ends = [e for e in (lognormal(*law, rng.random()) for _ in range(1500)) if e <= looks(plan, 30.0)[-1]]
    assert statistics.mean(new_calls) <= statistics.mean(ends) / plan.dense_s + 3


def test_dense_plans_follow_the_configured_interval() -> None:
    from failover.cloud.waiting import PollPlans, PollSchedule

    plans = PollPlans.dense(0.05, max_polls=200)
    assert plans.attach.dense_s == 0.05 and plans.attach.first_s == 0.05
    assert plans.command.dense_s == 0.05
    sched = PollSchedule(plans.attach, timeout_s=30)
    waits = [sched.next(t * 0.05) for t in range(10)]
    assert max(waits) <= 0.05 + 1e-9
    default = PollPlans.dense(0.3)
    assert default.command.dense_s == 0.1  # the guest wait never polls coarser than its own plan
