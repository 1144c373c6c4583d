"""A ZooKeeper read kept for a moment: the leader's tick asks for the same small lists
(live replicas, pauses) twenty times a second.

Read each time, those were three round trips a tick, about 60 a second: the replica's and the
server's CPU for lists that change when an operator acts or a replica comes or goes. Kept for
`MAX_AGE_S`, a change made elsewhere is seen that much later at most; a change made through
the same object (`forget`) is seen at the next read. Drill requests are still read every
tick: a claim made up to a quarter of a second later widened the window in which a leader
that loses office between its claim and its answer leaves a request claimed and unanswered
(benchmarks/results/NOTES.md, stop 24).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# Against the tick's 50 ms: a pause or a replica's departure seen within a quarter of a second
# more, for a fifth of the reads.
MAX_AGE_S = 0.25


class Recent(Generic[T]):
    def __init__(self, read: Callable[[], T], max_age_s: float = MAX_AGE_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._read = read
        self._max_age_s = max_age_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._kept: tuple[float, T] | None = None
        self._generation = 0

    def get(self) -> T:
        """The last answer if younger than the max age, else a fresh read (errors propagate,
        nothing is kept)."""
        now = self._monotonic()
        with self._lock:
            kept, generation = self._kept, self._generation
        if kept is not None and now - kept[0] < self._max_age_s:
            return kept[1]
        value = self._read()
        with self._lock:
            if generation == self._generation:  # not forgotten while we read
                self._kept = (now, value)
        return value

    def forget(self) -> None:
        """A write through this process: the next read asks ZooKeeper."""
        with self._lock:
            self._kept = None
            self._generation += 1
