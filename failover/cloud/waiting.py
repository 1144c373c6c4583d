"""Poll and back-off schedules, and the deadline every cloud wait is bounded by.

Pure arithmetic over a clock. A wait for a cloud step polls in two phases: dense polls
(the first after 150 ms, so an instant cloud or a call the cloud does not show yet is seen at
once, then every `dense_s`) while the step is likely to finish, then polls backing off
x1.5 to a 1 s cap. The dense window comes from the step's expected duration: Alibaba's own
waits imply attach about 5 s median (p99 30 s) and detach about 4 s (p99 30 s), so polling
every 0.2 s up to that law's 99th percentile notices a finished step about 0.11 s late
(median, measured), where a plain x1.5 back-off notices it about 0.7 s late, for ~26
describes per median step. Dense through the tail too: with polls backing off after the 90th percentile an
attach drawn at 17.6 s was noticed 0.81 s late (lag max 1.8 s in 30 moves). The cost stays
small because ENI looks share rounds (`scheduler`): a controller's describe rate is bounded by
its round rate, not by how many waits are running, and only the rare long step polls longer.
Every wait has a hard bound on its polls (`max_polls`): near the bound the last polls spread
over what is left of the timeout instead of stopping early.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from statistics import NormalDist

from failover.cloud import errors
from failover.model import CloudTimeout, ErrorKind
from failover.ports import Clock

POLL_FIRST_S = 0.15
POLL_FACTOR = 1.5
POLL_CAP_S = 1.0
POLL_DENSE_S = 0.2
POLL_MAX = 200  # polls per wait: ~26 for a median 5 s attach; 150 dense + 50 kept for a longer tail
RETRY_BASE_S = 0.2
RETRY_CAP_S = 2.0
# Describes may lag an accepted call (eventual consistency; no public figure: the emulator's
# realistic profile assumes 1 s). Until this long after our call, a read that does not show it
# yet is not evidence that it failed or was lost.
LAG_S = 3.0
# A call refused for the resource's state (InvalidEniState / InvalidEcsState, ...) is not
# re-sent at poll cadence: the next one waits 1 s, then 2 s, then terraform's 3 s step
# (terraform-provider-alicloud retries these with 3 s incremental waits) at most.
CONFLICT_STEP_S = 1.0
CONFLICT_CAP_S = 3.0
# With less than this left before its deadline a call is not made (no answer would come in
# time) and a wait gives up.
MIN_CALL_S = 0.05
_RNG = random.Random()
_Z99 = NormalDist().inv_cdf(0.99)


@dataclass(frozen=True)
class PollPlan:
    """How one wait polls; all times are seconds since the wait began."""

    first_s: float = POLL_FIRST_S
    dense_s: float = POLL_DENSE_S
    dense_until_s: float = 0.0  # no dense window: a plain growing schedule
    factor: float = POLL_FACTOR
    cap_s: float = POLL_CAP_S
    max_polls: int = POLL_MAX

    @classmethod
    def around(cls, median_s: float, p99_s: float, *, until_q: float = 0.99,
               dense_s: float = POLL_DENSE_S, max_polls: int = POLL_MAX) -> PollPlan:
        """Dense polls up to a quantile of a log-normal with this median and p99.

        Dense from the start, not from an early quantile: sparse early looks cost only one
        describe less and make every fast step (and every fast cloud) late.
        """
        sigma = math.log(max(p99_s, median_s) / median_s) / _Z99
        until = median_s * math.exp(sigma * NormalDist().inv_cdf(until_q))
        return cls(dense_s=dense_s, max_polls=max_polls, dense_until_s=until)

    def scaled(self, k: float) -> PollPlan:
        """Every time multiplied by `k` (a world running `1/k` times faster); counts unchanged."""
        return replace(self, first_s=self.first_s * k, dense_s=self.dense_s * k,
                       dense_until_s=self.dense_until_s * k, cap_s=self.cap_s * k)


GROWING = PollPlan()  # no dense window: the plain x1.5 back-off
ATTACH = PollPlan.around(5.0, 30.0)
DETACH = PollPlan.around(4.0, 30.0)
STOP = PollPlan.around(5.0, 30.0)  # assumed: nobody publishes force-stop times
# Assumed: a short guest script. It is on the critical path and its describe is cheap: denser.
COMMAND = PollPlan.around(1.0, 10.0, dense_s=0.1)
EIP = PollPlan.around(1.0, 5.0)  # assumed
START = PollPlan.around(20.0, 60.0)  # assumed, as the emulator's realistic start


@dataclass(frozen=True)
class PollPlans:
    """The plan of each kind of wait the adapter does."""

    attach: PollPlan = ATTACH
    detach: PollPlan = DETACH
    stop: PollPlan = STOP
    command: PollPlan = COMMAND
    eip: PollPlan = EIP
    lag_s: float = LAG_S
    conflict_step_s: float = CONFLICT_STEP_S
    conflict_cap_s: float = CONFLICT_CAP_S
    start: PollPlan = START

    def scaled(self, k: float) -> PollPlans:
        return PollPlans(self.attach.scaled(k), self.detach.scaled(k), self.stop.scaled(k),
                         self.command.scaled(k), self.eip.scaled(k), self.lag_s * k,
                         self.conflict_step_s * k, self.conflict_cap_s * k, self.start.scaled(k))

    @classmethod
    def dense(cls, dense_s: float, max_polls: int = POLL_MAX) -> PollPlans:
        """The default plans with another dense interval (a fast emulator, or a lab)."""
        def one(plan: PollPlan) -> PollPlan:
            d = min(dense_s, plan.dense_s) if plan is COMMAND else dense_s
            return replace(plan, first_s=min(plan.first_s, d), dense_s=d, max_polls=max_polls)
        return cls(one(ATTACH), one(DETACH), one(STOP), one(COMMAND), one(EIP), start=one(START))


def poll_next(plan: PollPlan, timeout_s: float, polls: int, grow: float,
              elapsed_s: float) -> tuple[float, float]:
    """The next interval of a wait that has polled `polls` times, and the next `grow`.

    Pure: the caller passes the time elapsed since the wait began, so slow answers do not
    shift the dense window. With a finite `timeout_s` at most `plan.max_polls` intervals fit
    before the timeout; the last quarter of them is kept for the tail, whatever the windows say.
    """
    early_max = plan.max_polls - max(1, plan.max_polls // 4)
    if polls < early_max and elapsed_s < plan.dense_until_s:
        return max(0.0, min(grow, plan.dense_s)), min(grow * plan.factor, plan.dense_s)
    interval = min(grow, plan.cap_s)
    left = plan.max_polls - polls
    if math.isfinite(timeout_s) and left > 0:
        # Never more than `left` more polls: spread them over the time that remains.
        interval = max(interval, (timeout_s - elapsed_s) / left)
    return max(0.0, interval), min(grow * plan.factor, plan.cap_s)


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


def no_time_left(action: str, total_s: float) -> CloudTimeout:
    return CloudTimeout(f"{action}: no time left to call the API (deadline of {total_s:g} s)",
                        kind=ErrorKind.RETRYABLE, code=errors.TIMEOUT, action=action)


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
