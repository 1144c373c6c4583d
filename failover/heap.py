"""The garbage collector of a long-running replica (`failover run`), paced for its heap.

A replica at 1,000 groups holds about 330,000 objects for its whole life (configuration,
metric series, the ZooKeeper mirror, the SDK's models), and makes short-lived ones by the
thousand every second (probe rounds, ENI reads, ticks). With CPython's defaults, anything that
outlived a few thousand allocations was promoted to the oldest generation, and a full
collection, which walks every object, ran every ~2 s for 200-500 ms with the interpreter
lock held: no probe started meanwhile (probe lag p99 220 ms on a quiet machine) and it was
about a tenth of a core (issue 23c, notes/issue-23c.md). Two changes, process-wide:

- A larger young generation (`YOUNG`): a round's or a tick's objects die young, freed by
  reference counting, instead of being promoted and counted towards a full collection.
- Once start-up is over (`FREEZE_AFTER_S`), one collection, then what is alive is moved out of
  the collector's sight (`gc.freeze`): later full collections walk only what was allocated
  since. Garbage is still collected; an object frozen alive that later dies is freed by its
  reference count, and only one that dies inside a reference cycle stays (bounded by what was
  alive once, at the freeze).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

YOUNG = 50_000  # allocations between young collections (CPython's default: 700)
MIDDLE = 20  # young collections per middle one (default 10)
FREEZE_AFTER_S = 60.0  # after start: addresses read, checks decided, metric series made


def pace() -> None:
    """The thresholds, for the whole process (call once, at start)."""
    _, _, old = gc.get_threshold()
    gc.set_threshold(YOUNG, MIDDLE, old)


class Freezer:
    """Freezes the heap once, `after_s` after it was made (the caller's loop asks `due`)."""

    def __init__(self, after_s: float = FREEZE_AFTER_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._at: float | None = monotonic() + after_s

    def poll(self) -> bool:
        """Freezes if it is time and it has not yet; True when it did."""
        if self._at is None or self._monotonic() < self._at:
            return False
        self._at = None
        started = self._monotonic()
        gc.collect()
        gc.freeze()
        log.info("start-up objects frozen out of the collector's walks",
                 extra={"objects": gc.get_freeze_count(),
                        "seconds": round(self._monotonic() - started, 3)})
        return True
