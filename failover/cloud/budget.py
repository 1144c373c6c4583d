"""The process's API budget: a token bucket per action, with a failover reserve.

Alibaba Cloud throttles per action and account, so one replica's health polls
could otherwise spend the quota a failover needs at the worst moment. Every
bucket keeps a reserve (a share of its burst) that only `Priority.FAILOVER`
calls may spend: routine calls stop at the reserve line and, after a short
bounded wait, give up with a retryable "local API budget exhausted" error.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from failover.cloud import errors
from failover.metrics import record_budget_wait
from failover.model import CloudError, ErrorKind, Priority
from failover.ports import Clock

ROUTINE_MAX_WAIT_S = 1.0


@dataclass
class TokenBucket:
    """One action's bucket. Pure: time is passed in, nothing sleeps or locks here."""

    rate_per_s: float
    burst: float
    tokens: float
    updated_at: float

    def refill(self, now: float) -> None:
        if now > self.updated_at:
            self.tokens = min(self.burst, self.tokens + (now - self.updated_at) * self.rate_per_s)
        self.updated_at = max(self.updated_at, now)

    def take(self, now: float, floor: float) -> float:
        """Take one token if that leaves at least `floor`; else how long until it would."""
        self.refill(now)
        if self.tokens - 1.0 >= floor - 1e-9:
            self.tokens -= 1.0
            return 0.0
        return (floor + 1.0 - self.tokens) / self.rate_per_s

    def reserve(self, now: float, max_wait_s: float) -> float | None:
        """Book the next token, even one that does not exist yet (the bucket goes into debt),
        and say how long until it does; None, booking nothing, if that is over `max_wait_s`.

        Bookings are served in the order they were made: a hundred failovers waiting on one
        action go out one per 1/rate, first come first served, instead of racing for each
        token as they wake (which starved some and stretched the tail of a mass failover).
        """
        self.refill(now)
        wait = max(0.0, (1.0 - self.tokens) / self.rate_per_s)
        if wait > max_wait_s + 1e-9:
            return None
        self.tokens -= 1.0
        return wait


class ApiBudget:
    """Thread-safe buckets keyed by action, all with the same rate, burst and reserve."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        reserve_share: float,
        *,
        clock: Clock,
        routine_max_wait_s: float = ROUTINE_MAX_WAIT_S,
    ) -> None:
        if rate_per_s <= 0 or burst < 1 or not 0 <= reserve_share < 1:
            raise ValueError("budget: rate_per_s > 0, burst >= 1 and 0 <= reserve_share < 1")
        self.rate_per_s = rate_per_s
        self.burst = float(burst)
        # Routine calls must leave this many tokens; at least one token stays theirs.
        self.reserve = min(self.burst - 1.0, self.burst * reserve_share)
        self.routine_max_wait_s = routine_max_wait_s
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}

    def _bucket(self, action: str) -> TokenBucket:
        b = self._buckets.get(action)
        if b is None:
            b = TokenBucket(self.rate_per_s, self.burst, self.burst, self._clock.monotonic())
            self._buckets[action] = b
        return b

    def available(self, action: str) -> float:
        with self._lock:
            b = self._bucket(action)
            b.refill(self._clock.monotonic())
            return b.tokens

    def acquire(self, action: str, priority: Priority, *, max_wait_s: float) -> float:
        """Spend one token of `action`, waiting at most `max_wait_s`; the seconds waited.

        Routine callers never wait longer than `routine_max_wait_s` either.
        Raises a retryable `CloudError` (code BudgetExhausted) when no token came.
        """
        if priority is Priority.FAILOVER:
            return self._reserve(action, max_wait_s)
        floor = self.reserve
        max_wait_s = min(max_wait_s, self.routine_max_wait_s)
        start = self._clock.monotonic()
        while True:
            with self._lock:
                need = self._bucket(action).take(self._clock.monotonic(), floor)
            waited = self._clock.monotonic() - start
            if need == 0.0:
                record_budget_wait(priority.name.lower(), waited)
                return waited
            left = max_wait_s - waited
            if left <= 0 or need > left + 1e-9:
                record_budget_wait(priority.name.lower(), waited)
                raise CloudError(
                    f"{action}: local API budget exhausted for {priority.name.lower()} calls "
                    f"({self.rate_per_s:g}/s, burst {self.burst:g}, reserve {self.reserve:g})",
                    kind=ErrorKind.RETRYABLE,
                    code=errors.BUDGET,
                    action=action,
                )
            # Sleep outside the lock so other actions and priorities are not blocked.
            self._clock.sleep(need)

    def _reserve(self, action: str, max_wait_s: float) -> float:
        """Failover calls book their token (FIFO, may use the reserve) and sleep until it is
        theirs; while they are in debt, routine calls find nothing above the reserve and wait."""
        with self._lock:
            wait = self._bucket(action).reserve(self._clock.monotonic(), max(0.0, max_wait_s))
        if wait is None:
            record_budget_wait("failover", 0.0)
            raise CloudError(
                f"{action}: local API budget exhausted for failover calls "
                f"({self.rate_per_s:g}/s, burst {self.burst:g})",
                kind=ErrorKind.RETRYABLE,
                code=errors.BUDGET,
                action=action,
            )
        if wait > 0:
            self._clock.sleep(wait)
        record_budget_wait("failover", wait)
        return wait


_SHARED: dict[tuple[float, int, float], ApiBudget] = {}
_SHARED_LOCK = threading.Lock()


def shared_budget(rate_per_s: float, burst: int, reserve_share: float, *, clock: Clock) -> ApiBudget:
    """The one budget of this process for these settings (every adapter spends from it)."""
    key = (rate_per_s, burst, reserve_share)
    with _SHARED_LOCK:
        budget = _SHARED.get(key)
        if budget is None:
            budget = ApiBudget(rate_per_s, burst, reserve_share, clock=clock)
            _SHARED[key] = budget
        return budget
