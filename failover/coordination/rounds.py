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

Per member: a round that overran its deadline keeps the probes that finished, so one slow
member must not hold its group's time back (that withdrew every vote of the replica on the
group, issue 23b) nor ride on its neighbours' fresh evidence. Each vote carries its member's
own evidence time; the znode keeps the group's time under the group's name (what an older
reader reads) and, under MEMBERS, the members whose own time lags their group's, with their
time. A member's vote counts while (reader's time since the group's time advanced) + (the
writer's lag of that member behind its group) is within the age: the lag is a difference of
two times of the writer's clock, so clocks are still never compared across hosts.
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
MEMBERS = "@members"  # no group name starts with "@" (config: ^[A-Za-z0-9])


class RoundTimes:
    def __init__(self, coord: ZkSession, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._coord = coord
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._mine: dict[str, float] = {}  # group -> last round time with evidence
        self._members: dict[tuple[str, str], float] = {}  # (group, instance) -> its own time
        self._written_session: int | None = None
        self._written_at = float("-inf")
        self._dirty = False
        # Reader side: controller -> group -> (round time, when we saw it advance).
        self._seen: dict[str, dict[str, tuple[float, float]]] = {}
        # controller -> (group, instance) -> seconds its time lags its group's (writer's clock).
        self._lags: dict[str, dict[tuple[str, str], float]] = {}
        self._read_at = float("-inf")
        # +1 when a re-read changed which (replica, group) pairs have round times. A time that
        # only advanced changes no answer of `counts` for a vote that counts (its `expires`
        # moves later); one that did not count and advances is the caller's to check.
        self.version = 0

    # ------------------------------------------------------------- publisher

    def note(self, group: str, at: float, instance: str | None = None) -> None:
        """A round of ours had evidence for `group` (for `instance` of it) at `at` (any thread,
        no I/O)."""
        with self._lock:
            if at > self._mine.get(group, float("-inf")):
                self._mine[group] = at
                self._dirty = True
            if instance is not None:
                key = (group, instance)
                if at > self._members.get(key, float("-inf")):
                    self._members[key] = at
                    self._dirty = True

    def _doc(self) -> dict[str, object]:
        """Groups' times, and the members whose own time lags their group's (caller locks)."""
        groups = {g: round(t, 2) for g, t in self._mine.items()}
        lagging: dict[str, dict[str, float]] = {}
        for (g, i), t in self._members.items():
            if round(t, 2) < groups[g]:
                lagging.setdefault(g, {})[i] = round(t, 2)
        doc: dict[str, object] = dict(groups)
        if lagging:
            doc[MEMBERS] = lagging
        return doc

    def write(self, sid: int) -> None:
        """The session worker: our round times, when due (and always after a new session)."""
        now = self._monotonic()
        with self._lock:
            fresh_session = sid != self._written_session
            if not fresh_session and (not self._dirty or now - self._written_at < WRITE_EVERY_S):
                return
            doc = self._doc()
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
        lags: dict[str, dict[tuple[str, str], float]] = {}
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
            lags[cid] = _lags(doc)
        if {c: t.keys() for c, t in seen.items()} != {c: t.keys() for c, t in self._seen.items()} \
                or lags != self._lags:
            self.version += 1
        self._seen, self._lags = seen, lags

    def now(self) -> float:
        return self._monotonic()

    def _lag(self, controller: str, group: str, instance: str | None) -> float:
        if instance is None:
            return 0.0
        return self._lags.get(controller, {}).get((group, instance), 0.0)

    def expires(self, controller: str, group: str, max_age_s: float,
                instance: str | None = None) -> float:
        """When (this clock) `counts` turns False for that vote without a re-read; inf: never."""
        found = self._seen.get(controller, {}).get(group)
        if found is None:
            return float("inf")
        return found[1] + max_age_s - self._lag(controller, group, instance)

    def counts(self, controller: str, group: str, max_age_s: float,
               instance: str | None = None) -> bool:
        """Whether `controller`'s vote on `group` (on `instance` of it) counts: the evidence
        behind it advanced within `max_age_s`."""
        times = self._seen.get(controller)
        if times is None:
            return True
        found = times.get(group)
        if found is None:
            return False
        return self._monotonic() - found[1] + self._lag(controller, group, instance) <= max_age_s


def _lags(doc: dict[str, object]) -> dict[tuple[str, str], float]:
    """(group, instance) -> how far the member's time lags its group's, from one writer's doc."""
    out: dict[tuple[str, str], float] = {}
    members = doc.get(MEMBERS)
    if not isinstance(members, dict):
        return out
    for group, listed in members.items():
        group_at = doc.get(group)
        if not isinstance(listed, dict) or not isinstance(group_at, int | float):
            continue
        for instance, at in listed.items():
            if isinstance(at, int | float):
                out[(group, instance)] = max(0.0, float(group_at) - float(at))
    return out
