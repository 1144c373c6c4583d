"""The cloud's look at every group's ENI: one batched DescribeNetworkInterfaces per interval.

The leader reconciles against this, `/status` reports from it. On the leader the read is
at FAILOVER priority (its decisions depend on it: in a zone outage a routine read stopped at
the reserve line would hold back every failover not yet started); a follower reads at
ROUTINE priority, less often (only its own /status uses it).
An ENI the answer leaves out is "not found", an ENI whose status this controller does not
know is unknown: either is that ENI's state alone. A read that fails leaves every ENI
unknown (with the error) rather than keeping an old answer that would claim a service is
served on the strength of the past.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence

from failover.config import GroupConfig
from failover.engine.view import FOLLOWER_INTERVAL_S, EniSeen
from failover.model import ENIS_PER_CALL, CloudError, Priority
from failover.ports import Clock, CloudPort

log = logging.getLogger("failover.engine")

INTERVAL_MIN_S = 1.0  # the leader's reads: at most one round per second
__all__ = ["FOLLOWER_INTERVAL_S", "EniObserver", "interval_of"]
WAKE_GAP_S = 0.2  # reads asked for at once (a failover just ended) at most this often
# The share of DescribeNetworkInterfaces' per-second limit the leader's look at every ENI may
# spend. At 1,000 groups a round is 10 pages: read every second it took half the account's
# limit, and in a zone outage the failovers' own reads of their ENIs waited behind it (100
# groups failed over in 51 s against a 5 s bound).
READ_SHARE = 0.1


def interval_of(groups: Sequence[GroupConfig], rate_per_s: float) -> float:
    """As often as the slowest of the fastest health round and once a second: a change in the
    cloud is seen about as soon as a change in a member's health; and no more often than keeps
    the round's pages within `READ_SHARE` of the action's limit (`rate_per_s`), which a zone
    outage needs for its failovers (each reads its own ENI before it moves it)."""
    pages = -(-len({g.network_interface for g in groups}) // ENIS_PER_CALL)
    return max(INTERVAL_MIN_S, min((g.health.interval_s for g in groups), default=1.0),
               pages / (rate_per_s * READ_SHARE))


class EniObserver:
    def __init__(self, groups: Sequence[GroupConfig], cloud: CloudPort, clock: Clock,
                 interval_s: float | None = None,
                 leading: Callable[[], bool] | None = None, rate_per_s: float = 20.0) -> None:
        """`leading`: whether this replica leads now (FAILOVER priority and `interval_s`);
        otherwise ROUTINE every FOLLOWER_INTERVAL_S. Without it: always as the leader.
        `rate_per_s`: the account's DescribeNetworkInterfaces limit (`interval_of`)."""
        self._enis = list(dict.fromkeys(g.network_interface for g in groups))
        self._cloud = cloud
        self._clock = clock
        self._rate_per_s, self._fixed = rate_per_s, interval_s is not None
        self.interval_s = interval_of(groups, rate_per_s) if interval_s is None else interval_s
        self._lock = threading.Lock()
        self._seen: dict[str, EniSeen] = {}
        self._wake = threading.Event()
        self._failing = ""
        self._leading = leading or (lambda: True)

    def reconfigure(self, groups: Sequence[GroupConfig]) -> None:
        """A reload's groups: read from the next round on."""
        with self._lock:
            self._enis = list(dict.fromkeys(g.network_interface for g in groups))
            if not self._fixed:
                self.interval_s = interval_of(groups, self._rate_per_s)
        self.wake()

    def seen(self) -> Mapping[str, EniSeen]:
        """ENI id -> the last look (absent: never read)."""
        with self._lock:
            return self._seen

    def note(self, eni_id: str, seen: EniSeen) -> None:
        """A look taken elsewhere (a failover's verify step), kept if newer than ours."""
        with self._lock:
            current = self._seen.get(eni_id)
            if current is None or current.at <= seen.at:
                self._seen = {**self._seen, eni_id: seen}

    def wake(self) -> None:
        """Read again now (the engine just finished moving something)."""
        self._wake.set()

    def refresh(self) -> None:
        started = self._clock.monotonic()
        with self._lock:
            enis = self._enis
        try:
            priority = Priority.FAILOVER if self._leading() else Priority.ROUTINE
            found = self._cloud.describe_enis(enis, priority=priority)
        except CloudError as e:
            error = f"the ENI read failed: {e}"
            if error != self._failing:
                log.warning("could not read the groups' ENIs", extra={"error": str(e)})
            self._failing = error
            seen = {eni: EniSeen(None, None, started, error) for eni in enis}
        else:
            if self._failing:
                log.info("the groups' ENIs are readable again")
            self._failing = ""
            seen = {eni: EniSeen.of(found.get(eni), started) for eni in enis}
        with self._lock:  # a look noted meanwhile that is newer than this read stays
            self._seen = {e: s if (old := self._seen.get(e)) is None or old.at <= s.at else old
                          for e, s in seen.items()}

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            started = self._clock.monotonic()
            try:
                self.refresh()
            except Exception:
                log.exception("ENI read crashed; retrying")
            every = self.interval_s if self._leading() else max(self.interval_s, FOLLOWER_INTERVAL_S)
            self._wake.wait(max(0.0, started + every - self._clock.monotonic()))
            self._wake.clear()
            # Many failovers ending at once (a zone outage) wake it many times: one read each gap.
            stop.wait(max(0.0, started + WAKE_GAP_S - self._clock.monotonic()))
