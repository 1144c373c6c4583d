"""Poll and back-off schedules, and the deadline every cloud wait is bounded by.

Pure arithmetic over a clock: a fast cloud gives a fast failover (the first
polls come after 150 ms), a slow one is not hammered (intervals grow to 2 s),
and nothing waits past its deadline.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

from failover.ports import Clock

POLL_FIRST_S = 0.15
POLL_FACTOR = 1.5
POLL_CAP_S = 2.0
RETRY_BASE_S = 0.2
RETRY_CAP_S = 2.0
_RNG = random.Random()


class SystemClock:
    """The real clock (`ports.Clock`)."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


def poll_intervals(
    first_s: float = POLL_FIRST_S, factor: float = POLL_FACTOR, cap_s: float = POLL_CAP_S
) -> Iterator[float]:
    """Endless, growing poll intervals: 0.15, 0.225, 0.34, ... up to the cap."""
    interval = first_s
    while True:
        yield min(interval, cap_s)
        interval = min(interval * factor, cap_s)


def retry_delay(attempt: int, retry_after_ms: int | None = None, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number `attempt` (0-based) of a retryable error.

    Exponential with equal jitter, so replicas that failed together do not
    retry together. A server's `x-acs-retry-after` is a floor: we never come
    back sooner than it asked, only a little later (up to +20 %).
    """
    r = rng or _RNG
    if retry_after_ms is not None and retry_after_ms > 0:
        return retry_after_ms / 1000.0 * (1.0 + 0.2 * r.random())
    ceiling = min(RETRY_CAP_S, RETRY_BASE_S * 2.0 ** min(max(0, attempt), 16))
    return ceiling / 2 + r.random() * ceiling / 2


@dataclass
class Deadline:
    """A point on the monotonic clock that a wait must not pass."""

    clock: Clock
    at: float
    total_s: float

    @classmethod
    def after(cls, clock: Clock, seconds: float) -> Deadline:
        return cls(clock=clock, at=clock.monotonic() + seconds, total_s=seconds)

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock.monotonic())

    def elapsed(self) -> float:
        return self.total_s - (self.at - self.clock.monotonic())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def bounded(self, seconds: float) -> float:
        """`seconds`, cut so that sleeping it does not pass the deadline."""
        return max(0.0, min(seconds, self.remaining()))
