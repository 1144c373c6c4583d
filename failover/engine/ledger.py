"""What the leader remembers of its groups between ticks, under one lock.

Each group's state as last read from the journal, the unfinished record found on taking
office, the failover running (one per group), the releases running, and the line before
which an ENI read is no evidence. The loop's thread and the job threads meet only here, and
each change that must be seen whole (a job's end: its state, its slot, its freshness line)
is one method.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, replace

from failover.records import FailoverRecord, GroupState


@dataclass(frozen=True)
class Recalled:
    """One group as the ledger holds it, read at once (the input of its view)."""

    state: GroupState
    running: bool
    releasing: frozenset[str]
    unfinished: FailoverRecord | None
    fresh_after: float | None  # monotonic: an ENI read that began before is no evidence


class Ledger:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.states: dict[str, GroupState] = {}
        self.unfinished: dict[str, FailoverRecord] = {}
        self.running: dict[str, Future[None]] = {}  # failovers, one per group
        self.releasing: dict[str, set[str]] = {}  # reverse scripts on former holders, by group
        # group -> monotonic time before which an ENI read is no evidence: the end of this
        # leader's last move of the group, or when it took office (a follower reads rarely).
        self.fresh_after: dict[str, float] = {}
        # +1 with every change of the above: while it stands, `recall` answers as before (the
        # tick rebuilds no view when none of its inputs changed).
        self.version = 0
        self._blocked: tuple[int, frozenset[str]] = (-1, frozenset())  # as of a version

    def take_office(self, states: Mapping[str, GroupState], unfinished: Mapping[str, FailoverRecord],
                    groups: Iterable[str], now: float) -> None:
        with self.lock:
            self.version += 1
            self.states = dict(states)
            self.unfinished = dict(unfinished)
            for name in groups:
                self.fresh_after[name] = max(now, self.fresh_after.get(name, now))

    def recall(self, name: str) -> Recalled:
        with self.lock:
            return Recalled(self.states.get(name) or GroupState(name), name in self.running,
                            frozenset(self.releasing.get(name, ())), self.unfinished.get(name),
                            self.fresh_after.get(name))

    def state(self, name: str) -> GroupState | None:
        with self.lock:
            return self.states.get(name)

    def blocked(self) -> frozenset[str]:
        """The groups whose state says blocked (until `failover ack`); worked out again only
        after a change (the loop asks every tick)."""
        with self.lock:
            if self._blocked[0] != self.version:
                self._blocked = (self.version, frozenset(n for n, s in self.states.items() if s.blocked))
            return self._blocked[1]

    def set_state(self, name: str, state: GroupState) -> None:
        with self.lock:
            self.version += 1
            self.states[name] = state

    def drop_unfinished(self, name: str) -> None:
        with self.lock:
            self.version += 1
            self.unfinished.pop(name, None)

    def claim(self, name: str, start: Callable[[], Future[None]]) -> None:
        """Starts the group's failover job unless one runs already (one per group)."""
        with self.lock:
            if name not in self.running:
                self.running[name] = start()
                self.version += 1

    def job_ended(self, name: str, state: GroupState | None, fresh_after: float) -> None:
        """A failover job ended: its group's state as re-read (None: it could not be), its
        slot freed, and reads from before `fresh_after` no evidence."""
        with self.lock:
            self.version += 1
            if state is not None:
                self.states[name] = state
            self.running.pop(name, None)
            self.fresh_after[name] = fresh_after

    def jobs(self) -> list[Future[None]]:
        with self.lock:
            return list(self.running.values())

    def begin_release(self, name: str, instance: str) -> bool:
        """False when that release runs already."""
        with self.lock:
            busy = self.releasing.setdefault(name, set())
            if instance in busy:
                return False
            busy.add(instance)
            self.version += 1
            return True

    def release_ended(self, name: str, instance: str, released: bool) -> None:
        with self.lock:
            self.version += 1
            self.releasing.get(name, set()).discard(instance)
            cached = self.states.get(name)
            # Only this field: a concurrent failover may have changed the rest meanwhile.
            if released and cached is not None:
                left = tuple(i for i in cached.pending_release if i != instance)
                self.states[name] = replace(cached, pending_release=left)
