"""The drift-free jittered trigger: period stays the interval, one fire per slot."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from failover.health.trigger import SteadyJitterTrigger


@settings(max_examples=30)
@given(st.sampled_from([0.1, 0.2, 1.0, 2.5]), st.floats(min_value=0, max_value=0.4))
def test_fire_k_stays_in_slot_k(interval: float, jitter_share: float) -> None:
    start = datetime(2024, 1, 1, 0, 0, 0, 123457, tzinfo=UTC)
    jitter = interval * jitter_share
    trigger = SteadyJitterTrigger(seconds=interval, jitter_s=jitter, start_date=start)
    fire, now = None, start
    for k in range(2000):
        fire = trigger.get_next_fire_time(fire, now)
        assert fire is not None
        offset = (fire - start).total_seconds() - k * interval
        assert -1e-5 <= offset <= jitter + 1e-5, (k, offset)
        now = fire


def test_catching_up_after_a_stall_yields_each_slot_once() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    trigger = SteadyJitterTrigger(seconds=1.0, jitter_s=0.0, start_date=start)
    fires = [trigger.get_next_fire_time(None, start)]
    for _ in range(5):
        fires.append(trigger.get_next_fire_time(fires[-1], start))
    assert [(f - start).total_seconds() for f in fires if f] == [0, 1, 2, 3, 4, 5]
