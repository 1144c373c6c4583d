"""An interval trigger with jitter that does not drift.

APScheduler 3's `IntervalTrigger(jitter=...)` adds the jitter to the previous
(already jittered) fire time, so the period grows by jitter/2 on average and
a gap between two rounds no longer tells how many were skipped. Here fire k
is at `start + k * interval + U(0, jitter)`: the period stays `interval`.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

from apscheduler.triggers.interval import IntervalTrigger


class SteadyJitterTrigger(IntervalTrigger):  # type: ignore[misc]  # apscheduler is untyped
    def __init__(self, *, seconds: float, jitter_s: float, start_date: datetime) -> None:
        super().__init__(seconds=seconds, start_date=start_date, timezone=start_date.tzinfo)
        self.spread_s = jitter_s

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        previous = previous_fire_time
        if previous is not None:
            # Back to the un-jittered slot the previous fire belonged to (the
            # epsilon absorbs datetime's microsecond rounding).
            start = self.start_date.timestamp()
            slot = math.floor((previous.timestamp() - start) / self.interval_length + 1e-3)
            previous = self.start_date + timedelta(seconds=slot * self.interval_length)
        nxt: datetime | None = super().get_next_fire_time(previous, now)
        if nxt is None:
            return None
        if self.spread_s > 0:
            nxt += timedelta(seconds=random.uniform(0, self.spread_s))
        while previous_fire_time is not None and nxt <= previous_fire_time:
            nxt += self.interval  # never fire twice for one slot
        return nxt
