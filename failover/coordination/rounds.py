"""Round times: a vote counts only while the replica that cast it is still probing its group.

Verdicts are written on change, so a replica whose rounds stopped (a wedged loop, probes
skipped, the cloud throttling an ecs_status-only group) would keep voting its last word.
Each replica therefore publishes, in one ephemeral znode `rounds/<id>`, the wall-clock time
of its last round with evidence for every group, at most once per `WRITE_EVERY_S`. The
reader never compares that time with its own clock (hosts' clocks differ): it notes, on its
own monotonic clock, when each (replica, group) time last *advanced*, and a vote whose round
time has not advanced for the group's maximum age (`quorum.vote_max_age`) is not counted.

A replica with no `rounds` znode at all (an older version during a rolling upgrade) keeps
the old behaviour: its votes count.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from kazoo.exceptions import NodeExistsError, NoNodeError

from failover.coordination.codec import Undecodable, decode, encode
from failover.coordination.session import ZkSession

WRITE_EVERY_S = 1.0
READ_EVERY_S = 0.5


class RoundTimes:
    def __init__(self, coord: ZkSession, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._coord = coord
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._mine: dict[str, float] = {}  # group -> last round time with evidence
        self._written_session: int | None = None
        self._written_at = float("-inf")
        self._dirty = False
        # Reader side: controller -> group -> (round time, when we saw it advance).
        self._seen: dict[str, dict[str, tuple[float, float]]] = {}
        self._read_at = float("-inf")
        # +1 when a re-read changed which (replica, group) pairs have round times. A time that
        # only advanced changes no answer of `counts` for a vote that counts (its `expires`
        # moves later); one that did not count and advances is the caller's to check.
        self.version = 0

    # ------------------------------------------------------------- publisher

    def note(self, group: str, at: float) -> None:
        """A round of ours had evidence for `group` at `at` (any thread, no I/O)."""
        with self._lock:
            if at > self._mine.get(group, float("-inf")):
                self._mine[group] = at
                self._dirty = True

    def write(self, sid: int) -> None:
        """The session worker: our round times, when due (and always after a new session)."""
        now = self._monotonic()
        with self._lock:
            fresh_session = sid != self._written_session
            if not fresh_session and (not self._dirty or now - self._written_at < WRITE_EVERY_S):
                return
            doc = {g: round(t, 2) for g, t in self._mine.items()}
            self._dirty = False
        coord = self._coord
        path = coord.layout.round_times(coord.controller_id)
        data = encode(doc)
        try:
            if fresh_session:
                coord.ensure_path(coord.layout.rounds)
                try:
                    coord.call(coord.client.create_async, path, data, ephemeral=True)
                except NodeExistsError:  # ours from an older session, expiring: replace it
                    coord.call(coord.client.delete_async, path)
                    coord.call(coord.client.create_async, path, data, ephemeral=True)
            else:
                coord.call(coord.client.set_async, path, data)
        except Exception:
            with self._lock:
                self._dirty = True
            raise
        self._written_session, self._written_at = sid, now

    # ---------------------------------------------------------------- reader

    def refresh(self, live: Iterable[str]) -> None:
        """Re-reads the live replicas' round times, at most every READ_EVERY_S."""
        now = self._monotonic()
        if now - self._read_at < READ_EVERY_S:
            return
        self._read_at = now
        coord = self._coord
        ids = sorted(live)
        got = coord.many(coord.client.get_async, [(coord.layout.round_times(c),) for c in ids])
        seen: dict[str, dict[str, tuple[float, float]]] = {}
        for cid, res in zip(ids, got, strict=True):
            if isinstance(res, NoNodeError):
                continue  # an older version: no round times, its votes count as before
            if isinstance(res, Exception):
                raise res
            try:
                doc = decode(res[0])
            except Undecodable:
                doc = {}
            before = self._seen.get(cid, {})
            times: dict[str, tuple[float, float]] = {}
            for group, value in doc.items():
                if not isinstance(value, int | float):
                    continue
                old = before.get(group)
                times[group] = old if old is not None and value <= old[0] else (float(value), now)
            seen[cid] = times
        if {c: t.keys() for c, t in seen.items()} != {c: t.keys() for c, t in self._seen.items()}:
            self.version += 1
        self._seen = seen

    def now(self) -> float:
        return self._monotonic()

    def expires(self, controller: str, group: str, max_age_s: float) -> float:
        """When (this clock) `counts` turns False for that vote without a re-read; inf: never."""
        found = self._seen.get(controller, {}).get(group)
        return float("inf") if found is None else found[1] + max_age_s

    def counts(self, controller: str, group: str, max_age_s: float) -> bool:
        """Whether `controller`'s vote on `group` counts: its rounds advanced within `max_age_s`."""
        times = self._seen.get(controller)
        if times is None:
            return True
        found = times.get(group)
        return found is not None and self._monotonic() - found[1] <= max_age_s
