"""The process's API budget: a sliding window of calls per action, paced, with a failover reserve.

Alibaba Cloud throttles per action and account, counting the calls of each second, so
one replica's health polls could otherwise spend the quota a failover needs at the worst
moment. Each action may make at most `burst` calls in any `burst / rate_per_s` seconds
(with burst = the account's calls per second, exactly the gateway's own count). Slots are
booked in that window; a call whose slot came still waits while `burst` calls may yet be
counted within the span before it: the gateway counts a call at some instant between its
leaving and its answer, so each counts here until a span after its answer (`CallWindow.out`,
`answered`). That holds whatever the jitter of senders waking, of the network or of the
gateway's own queue, where a fixed margin under the rate (5 %, before) only absorbed ~50 ms
and cost 5 % of a zone outage's pace. A token bucket of the same rate and burst lets `burst`
go at once and then `rate_per_s` more within that second: twice what a gateway counting a
second allows. A share of the window (the reserve) is for `Priority.FAILOVER` calls only: routine
calls stop at the reserve line and wait for a slot, as long as their caller allows, then give
up with a retryable "local API budget exhausted" error.

Within the window, routine calls are paced: at most one per `span / (the routine calls the
window allows)`. The window alone let a whole share go at once; sent together, calls reach
the gateway spread by its own queue, and a clump's tail and the next window's head fall in
one gateway second. A long run of routine calls is no slower (the window bounds it either
way). Failover calls keep the window's burst: they book slots first come first served, and a
zone outage's groups, detected over a second or so, spend what the window saved meanwhile
(pacing them too, or at twice the pace, made trial 7's outage 5-10 % slower).

The account's limit is shared by every replica. The reads every replica makes (`SHARED`:
health's and readiness's) are split: with n live replicas each may send
floor((burst - reserve) / n) routine calls of such an action per window, and failover calls
(the leader's) what the others' shares leave (the reserve, its own share and what rounding
left over), so n replicas together never pass `burst`. The
actions only the leader calls (moves, commands) keep the whole window. `set_replicas` is
told n by the coordination adapter (`coordination.api_share`), through `ports.ApiShare`.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from dataclasses import dataclass, field

from failover.cloud import errors
from failover.metrics import record_budget_wait
from failover.model import CloudError, ErrorKind, Priority
from failover.ports import Clock

# The reads every replica makes, on its own schedule: their per-action limit is split.
SHARED = frozenset({
    "DescribeInstances", "DescribeNetworkInterfaces", "DescribeCloudAssistantStatus",
    "DescribeInstanceStatus", "DescribeInstanceTypes",
})
# Float sums of call times and the window may miss an exact boundary by an ulp.
_EPS = 1e-9
# A call waiting for answers to free a place asks again this often (answers take ms).
ANSWER_POLL_S = 0.01


class BudgetExhausted(CloudError):
    """No slot within the caller's bound; `retry_in_s`: when the next one would come."""

    def __init__(self, message: str, *, action: str, retry_in_s: float) -> None:
        super().__init__(message, kind=ErrorKind.RETRYABLE, code=errors.BUDGET, action=action)
        self.retry_in_s = retry_in_s


@dataclass
class CallWindow:
    """One action's calls, sent and booked. Pure: time is passed in, nothing sleeps or locks."""

    rate_per_s: float
    burst: int
    times: deque[float] = field(default_factory=deque)
    # When the last routine call went: the next one's pace counts from there.
    last_routine: float = float("-inf")
    # What the gateway may still count: calls out and not yet answered, and when the answered
    # ones came back (in order). The gateway counts a call at some instant between its leaving
    # and its answer; bookings are slots, and a sender that wakes late, or a gateway that
    # counts late (its own queue), would put two slots' calls in one of its seconds.
    out: int = 0
    answered: deque[float] = field(default_factory=deque)

    @property
    def span_s(self) -> float:
        return self.burst / self.rate_per_s

    def pace_s(self, calls: float) -> float:
        """The even spacing of `calls` calls a window."""
        return self.span_s / max(1.0, calls)

    def _prune(self, now: float) -> None:
        while self.times and self.times[0] <= now - self.span_s + _EPS:
            self.times.popleft()

    def counted(self, now: float) -> int:
        """Calls in the window that ends now, and every call booked after it."""
        self._prune(now)
        return len(self.times)

    def take(self, now: float, keep: float) -> float:
        """Send one call now if that leaves `keep` of the window free; else how long until it
        would. A call slipped in before booked ones never pushes any of them over the limit:
        each window that holds a booked call lies inside the one counted here."""
        wait = self.free_in(now, keep)
        if wait == 0.0:
            bisect.insort(self.times, now)
            self.last_routine = now
        return wait

    def free_in(self, now: float, keep: float) -> float:
        """How long until a call that must leave `keep` of the window free could go."""
        self._prune(now)
        allowed = self.burst - keep
        paced = self.last_routine + self.pace_s(allowed) - now
        n = len(self.times)
        if n + 1 <= allowed + _EPS:
            return 0.0 if paced <= _EPS else paced
        # The oldest calls must age out until only allowed - 1 remain.
        oldest = self.times[max(0, min(n - 1, n - int(allowed)))]
        return max(_EPS, oldest + self.span_s - now, paced)

    def send_in(self, now: float, limit: int | None = None) -> float:
        """How long until a call may leave with fewer than `limit` (else `burst`) calls the
        gateway may still count within the span before it: each counts until a span after its
        answer (0: it may go now; `ANSWER_POLL_S` when only answers to come would free a place)."""
        while self.answered and self.answered[0] <= now - self.span_s + _EPS:
            self.answered.popleft()
        over = self.out + len(self.answered) - (limit or self.burst) + 1  # places to free first
        if over <= 0:
            return 0.0
        if over > len(self.answered):
            return ANSWER_POLL_S
        return max(_EPS, self.answered[over - 1] + self.span_s - now)

    def move(self, slot_at: float, to: float) -> None:
        """The call booked at `slot_at` goes out at `to` instead."""
        i = bisect.bisect_right(self.times, slot_at + _EPS) - 1
        if i >= 0:
            del self.times[i]
        bisect.insort(self.times, to)

    def next_in(self, now: float) -> float:
        """How long a call booked now would wait."""
        self._prune(now)
        at = max(now, self.times[-1]) if self.times else now
        if len(self.times) >= self.burst:
            at = max(at, self.times[-self.burst] + self.span_s)
        return at - now

    def book(self, now: float, max_wait_s: float) -> float | None:
        """Book the next free slot, after every slot booked before (first come, first served),
        and say how long until it comes; None, booking nothing, if that is over `max_wait_s`.

        A hundred failovers waiting on one action go out `burst` at a time, in the order they
        asked, instead of racing for each slot as they wake (which starved some and stretched
        the tail of a mass failover).
        """
        wait = self.next_in(now)
        if wait > max_wait_s + _EPS:
            return None
        self.times.append(now + wait)
        return wait


class ApiBudget:
    """Thread-safe call windows keyed by action, all with the same rate, burst and reserve."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        reserve_share: float,
        *,
        clock: Clock,
        routine_max_wait_s: float | None = None,
    ) -> None:
        if rate_per_s <= 0 or burst < 1 or not 0 <= reserve_share < 1:
            raise ValueError("budget: rate_per_s > 0, burst >= 1 and 0 <= reserve_share < 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        # Routine calls must leave this much of the window; at least one call stays theirs.
        self.reserve = min(burst - 1.0, burst * reserve_share)
        # None: a routine call waits for its slot as long as its caller's bound allows.
        self.routine_max_wait_s = routine_max_wait_s
        self.replicas = 1
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, CallWindow] = {}

    def routine_calls(self, action: str) -> int:
        """Routine calls of `action` this replica may send per window (its share)."""
        whole = max(1, int(self.burst - self.reserve + _EPS))
        if action not in SHARED:
            return whole
        return max(1, whole // self.replicas)

    def routine_rate(self, action: str) -> float:
        """Routine calls a second this replica may send of `action`."""
        return self.routine_calls(action) * self.rate_per_s / self.burst

    def _limits(self, action: str) -> tuple[int, float]:
        """The window's size for this replica, and what routine calls must leave of it."""
        if action not in SHARED:
            return self.burst, self.reserve
        routine = self.routine_calls(action)
        # What the other replicas' routine shares leave of the account's window: the reserve
        # and this replica's share, plus what rounding the shares down left over.
        total = max(routine, self.burst - (self.replicas - 1) * routine)
        return total, float(total - routine)

    def set_replicas(self, n: int) -> None:
        """`n` live replicas share the account's limit from now on (`ports.ApiShare`)."""
        with self._lock:
            self.replicas = max(1, n)
            for action, w in self._windows.items():
                total, _keep = self._limits(action)
                # The same span (burst / rate), fewer calls in it.
                w.burst, w.rate_per_s = total, self.rate_per_s * total / self.burst

    def _window(self, action: str) -> CallWindow:
        w = self._windows.get(action)
        if w is None:
            total, _keep = self._limits(action)
            w = self._windows[action] = CallWindow(self.rate_per_s * total / self.burst, total)
        return w

    def available(self, action: str) -> float:
        """Calls that could go now; negative while failover calls are booked ahead."""
        with self._lock:
            w = self._window(action)
            return float(w.burst - w.counted(self._clock.monotonic()))

    def requeue(self, action: str, slot_at: float) -> float:
        """Send again now, in the slot taken at `slot_at`, a call the gateway refused for flow
        control: the gateway did not count it, and booking anew would put it behind every
        call booked since (a whole queue of them in a mass failover). Returns now."""
        with self._lock:
            now = self._clock.monotonic()
            self._window(action).move(slot_at, now)
            return now

    def sending(self, action: str, priority: Priority) -> float:
        """A call of `action` whose slot came: 0 if it may leave now (noted as out: tell
        `answered`), else how long to wait before asking again. A routine call of a shared
        read counts against this replica's share, not its whole window: a follower's window
        is its share plus the leader's reserve, which only the leader's failover calls use,
        and n replicas' routine calls must not pass the account's limit in any second."""
        with self._lock:
            w = self._window(action)
            shared = priority is not Priority.FAILOVER and action in SHARED
            wait = w.send_in(self._clock.monotonic(), self.routine_calls(action) if shared else None)
            if wait == 0.0:
                w.out += 1
            return wait

    def answered(self, action: str, *, counted: bool) -> None:
        """The call's answer came (or its attempt ended): counted from now for a span, unless
        the gateway refused it for flow control (it did not count it)."""
        with self._lock:
            w = self._window(action)
            w.out = max(0, w.out - 1)
            if counted:
                w.answered.append(self._clock.monotonic())

    def quickest(self, actions: tuple[str, ...]) -> str:
        """Of actions that answer the same question, the one whose next failover slot comes
        first (the first on a tie): the gateway counts each action on its own."""
        with self._lock:
            now = self._clock.monotonic()
            return min(actions, key=lambda a: self._window(a).next_in(now))

    def claim(self, action: str, priority: Priority, max_wait_s: float,
              waited_s: float = 0.0) -> float | None:
        """Without waiting: a failover call books its slot (first come, first served, may use
        the reserve) and gets the seconds until it, or None (nothing booked) past `max_wait_s`;
        a routine call takes a slot now (0.0) or books nothing and gets None. A slot's wait is
        recorded (with `waited_s`, what the caller waited before asking)."""
        with self._lock:
            now = self._clock.monotonic()
            w = self._window(action)
            if priority is Priority.FAILOVER:
                wait = w.book(now, max_wait_s)
            else:
                wait = 0.0 if w.take(now, self._limits(action)[1]) == 0.0 else None
        if wait is not None:
            record_budget_wait(priority.name.lower(), waited_s + wait)
        return wait

    def next_in(self, action: str, priority: Priority) -> float:
        """How long until a call of `action` at `priority` would find a slot."""
        with self._lock:
            now = self._clock.monotonic()
            w = self._window(action)
            if priority is Priority.FAILOVER:
                return w.next_in(now)
            return w.free_in(now, self._limits(action)[1])

    def acquire(self, action: str, priority: Priority, *, max_wait_s: float) -> float:
        """Spend one call of `action`, waiting at most `max_wait_s`; the seconds waited.

        A failover call books its slot and sleeps until it comes; while slots are booked ahead,
        routine calls find the window full and wait (never longer than `routine_max_wait_s`
        either, when set). Raises a retryable `CloudError` (code BudgetExhausted) when no slot
        came.
        """
        label = priority.name.lower()
        if priority is not Priority.FAILOVER and self.routine_max_wait_s is not None:
            max_wait_s = min(max_wait_s, self.routine_max_wait_s)
        start = self._clock.monotonic()
        while True:
            waited = self._clock.monotonic() - start
            wait = self.claim(action, priority, max(0.0, max_wait_s - waited), waited)
            if wait is not None:
                if wait > 0:
                    self._clock.sleep(wait)
                return waited + wait
            need = self.next_in(action, priority)
            if priority is Priority.FAILOVER or need > max_wait_s - waited + _EPS:
                record_budget_wait(label, waited)
                detail = (f"burst {self.burst}" if priority is Priority.FAILOVER else
                          f"burst {self.burst}, reserve {self.reserve:g}, "
                          f"{self.routine_calls(action)} routine per window for "
                          f"{self.replicas} replica(s)")
                raise BudgetExhausted(f"{action}: local API budget exhausted for {label} calls "
                                      f"({self.rate_per_s:g}/s, {detail})",
                                      action=action, retry_in_s=need)
            # Sleep outside the lock so other actions and priorities are not blocked.
            self._clock.sleep(need)


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
