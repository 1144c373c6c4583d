"""The leader's lease: how long ZooKeeper's last word still lets it act (pure, clock injected).

Holding the leader znode is not enough to act: a process paused (SIGSTOP, a long GC, a
stalled VM) keeps its local belief while its session expires and another replica takes
over. So a leader acts only while a recent reply from the ZooKeeper server confirmed that
its session is alive *and* the leader znode is its own. The lease runs from the instant the
confirming request was *sent* (the server saw the session alive no earlier than that).

Why `session_timeout / 3`: kazoo pings after a third of the session without traffic and
declares the connection lost after two thirds without a reply, so a healthy leader is
confirmed well inside a third (it probes three times per lease). The server expires a silent
session one full timeout after the last request it heard, so by the time any other replica
can win, a deposed leader's lease ran out at least two thirds of a session earlier: that
margin covers a call that passed the check just before the process stopped and leaves late.

The takeover grace covers the case the session expiry does not: the leader znode deleted
while its owner's session lives (an operator, a stale-epoch resignation not yet seen). Then a
new leader waits a full session timeout before its first action, which gives the deposed one
the same margin: its lease runs out within `lease_s` of the deletion, plus two thirds of a
session for a call in flight. The grace is skipped when ZooKeeper shows the previous leader
cannot act any more: it resigned cleanly, or its session is gone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

LEASE_FRACTION = 1 / 3  # of the session timeout
PROBES_PER_LEASE = 3


@dataclass(frozen=True)
class LeaseTimes:
    """The lease's durations, all derived from the session timeout (one place)."""

    lease_s: float
    probe_every_s: float
    grace_s: float

    @classmethod
    def for_session(cls, session_timeout_s: float) -> LeaseTimes:
        lease = session_timeout_s * LEASE_FRACTION
        return cls(lease_s=lease, probe_every_s=lease / PROBES_PER_LEASE, grace_s=session_timeout_s)


class Lease:
    """Confirmations in, a refusal (or None) out. Thread-safe: the prober confirms, any thread checks."""

    def __init__(self, times: LeaseTimes, monotonic: Callable[[], float]) -> None:
        self.times = times
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._term = 0  # bumped on every new office, so a late confirmation of the old one is void
        self._confirmed_at: float | None = None
        self._acting_from = 0.0

    def begin(self, term_sent_at: float, grace: bool) -> int:
        """A new office won by a request sent at `term_sent_at`; returns its term."""
        with self._lock:
            self._term += 1
            self._confirmed_at = term_sent_at
            now = self._monotonic()
            self._acting_from = now + self.times.grace_s if grace else now
            return self._term

    def end(self) -> None:
        with self._lock:
            self._term += 1
            self._confirmed_at = None

    def confirm(self, term: int, sent_at: float) -> None:
        """A reply to a request sent at `sent_at` showed the office still ours."""
        with self._lock:
            if term == self._term and (self._confirmed_at is None or sent_at > self._confirmed_at):
                self._confirmed_at = sent_at

    @property
    def term(self) -> int:
        return self._term

    def refusal(self) -> str | None:
        """Why the leader may not act now; None while the lease holds and the grace is over."""
        now = self._monotonic()
        with self._lock:
            confirmed, acting_from = self._confirmed_at, self._acting_from
        if confirmed is None:
            return "no confirmed lease"
        age = now - confirmed
        if age >= self.times.lease_s:
            return (f"lease expired: ZooKeeper last confirmed this leader {age:.2f} s ago "
                    f"(lease {self.times.lease_s:.2f} s)")
        if now < acting_from:
            return f"takeover grace: acting in {acting_from - now:.2f} s"
        return None

    def grace_left(self) -> float:
        with self._lock:
            return max(0.0, self._acting_from - self._monotonic())
