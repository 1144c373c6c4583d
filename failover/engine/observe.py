"""The cloud's look at every group's ENI: one batched DescribeNetworkInterfaces per interval.

The leader reconciles against this, `/status` reports from it. ROUTINE priority: it never
spends the failover reserve. An ENI the answer leaves out is "not found", an ENI whose
status this controller does not know is unknown: either is that ENI's state alone. A read
that fails leaves every ENI unknown (with the error) rather than keeping an old answer that
would claim a service is served on the strength of the past.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence

from failover.config import GroupConfig
from failover.engine.view import EniSeen
from failover.model import CloudError, Priority
from failover.ports import Clock, CloudPort

log = logging.getLogger("failover.engine")

INTERVAL_MIN_S = 0.25


def interval_of(groups: Sequence[GroupConfig]) -> float:
    """As often as the fastest health round: a change in the cloud is seen as soon as a
    change in a member's health is."""
    return max(INTERVAL_MIN_S, min((g.health.interval_s for g in groups), default=1.0))


class EniObserver:
    def __init__(self, groups: Sequence[GroupConfig], cloud: CloudPort, clock: Clock,
                 interval_s: float | None = None) -> None:
        self._enis = list(dict.fromkeys(g.network_interface for g in groups))
        self._cloud = cloud
        self._clock = clock
        self.interval_s = interval_of(groups) if interval_s is None else interval_s
        self._lock = threading.Lock()
        self._seen: dict[str, EniSeen] = {}
        self._wake = threading.Event()
        self._failing = ""

    def reconfigure(self, groups: Sequence[GroupConfig]) -> None:
        """A reload's groups: read from the next round on."""
        with self._lock:
            self._enis = list(dict.fromkeys(g.network_interface for g in groups))
        self.wake()

    def seen(self) -> Mapping[str, EniSeen]:
        """ENI id -> the last look (absent: never read)."""
        with self._lock:
            return self._seen

    def wake(self) -> None:
        """Read again now (the engine just finished moving something)."""
        self._wake.set()

    def refresh(self) -> None:
        started = self._clock.monotonic()
        with self._lock:
            enis = self._enis
        try:
            found = self._cloud.describe_enis(enis, priority=Priority.ROUTINE)
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
        with self._lock:
            self._seen = seen

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.refresh()
            except Exception:
                log.exception("ENI read crashed; retrying")
            self._wake.wait(self.interval_s)
            self._wake.clear()
