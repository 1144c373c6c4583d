"""Every replica's health verdicts, and the leader's view of all of them (`ports.Observations`).

`publish` is called from the health thread and never touches the network: it
records the wanted verdict and wakes the session worker, which writes it (as
an ephemeral owned by our session, so a dead replica's votes vanish with it).
Only a changed verdict (up/down) is written. After a lost session every
verdict is written again, because its ephemerals went with the old session.
The round time of every publish goes to `rounds`, so the leader can stop
counting the votes of a replica whose rounds stopped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from kazoo.exceptions import NodeExistsError, NoNodeError

from failover.coordination.codec import Undecodable, decode_observation, encode_observation
from failover.coordination.fencing import first_error
from failover.coordination.layout import check_name
from failover.coordination.obs_cache import ObservationCache
from failover.coordination.registry import ControllerRegistry
from failover.coordination.rounds import RoundTimes
from failover.coordination.session import ZkSession
from failover.records import Observation

log = logging.getLogger(__name__)
Key = tuple[str, str]
Snapshot = dict[str, dict[str, dict[str, Observation]]]


class ZkObservations:
    def __init__(self, coord: ZkSession, registry: ControllerRegistry) -> None:
        self._coord = coord
        self._registry = registry
        self._lock = threading.Lock()
        self._wanted: dict[Key, Observation] = {}
        self._dirty: set[Key] = set()
        self._written: set[Key] = set()  # created in `_session`
        self._session: int | None = None
        self._parents: set[Key] = set()  # observation dirs known to exist
        self._cache = ObservationCache(coord)
        self.rounds = RoundTimes(coord)
        self._max_age: dict[str, float] = {}  # by group; a group absent here is not aged
        # (group, instance, controller, bytes) already reported as garbage: the leader
        # reads every 50 ms, and one bad znode must not write twenty lines a second.
        self._reported: set[tuple[str, str, str, bytes]] = set()
        # Each vote decoded once per content: the leader's tick and the /status rebuild take a
        # snapshot of every vote (2,000+ znodes at 1,000 groups), and few change between two.
        self._decoded: dict[tuple[str, str, str], tuple[bytes | None, Observation]] = {}
        # The last snapshot, what it was built from and until when (a vote's age runs out) it
        # holds: the leader asks 20 times a second, and walking 2,000+ votes each time was a
        # fifth of a 1,000-group replica's CPU. Nothing changed, nothing aged: the same answer.
        # Also kept: the votes left out for their age, to see them count again.
        self._memo: tuple[tuple[object, ...], float, Snapshot, set[tuple[str, str, str, float]]] \
            | None = None

    def join(self) -> None:
        self._coord.add_reconciler(self.reconcile, closer=self._cache.close)

    def set_vote_ages(self, max_age_s: Mapping[str, float]) -> None:
        """How long each group's votes count without the voter's rounds advancing."""
        self._max_age = dict(max_age_s)

    # ------------------------------------------------------------------ port

    def publish(self, observation: Observation) -> None:
        if observation.controller_id != self._coord.controller_id:
            raise ValueError(
                f"observation.controller_id: {observation.controller_id!r} is not this replica "
                f"({self._coord.controller_id!r})"
            )
        key = (observation.group, observation.instance)
        old = self._wanted.get(key)
        if old is None:  # names checked once, not with every round's publish
            check_name("group", observation.group)
            check_name("instance", observation.instance)
        self.rounds.note(observation.group, observation.at, observation.instance)
        with self._lock:
            old = self._wanted.get(key)
            if old is not None and old.up == observation.up:
                return
            self._wanted[key] = observation
            self._dirty.add(key)
        self._coord.wake()

    def snapshot(self) -> Mapping[str, Mapping[str, Mapping[str, Observation]]]:
        live = set(self._registry.live())
        ages = self._max_age
        if ages:
            self.rounds.refresh(live)
        version = self._cache.version  # before the entries: a change meanwhile reads again
        stamp = (version, frozenset(live), self.rounds.version, id(ages))
        memo = self._memo
        if version is not None and memo is not None and memo[0] == stamp \
                and self.rounds.now() < memo[1] \
                and not any(self.rounds.counts(c, g, age, i) for c, g, i, age in memo[3]):
            return memo[2]
        out: Snapshot = {}
        until = float("inf")
        aged: set[tuple[str, str, str, float]] = set()
        known, decoded = self._decoded, {}
        for g, i, c, raw in self._cache.entries(live):
            age = ages.get(g)
            if age is not None:
                if not self.rounds.counts(c, g, age, i):
                    aged.add((c, g, i, age))
                    continue  # its rounds stopped: the last word it wrote no longer counts
                until = min(until, self.rounds.expires(c, g, age, i))
            hit = known.get((g, i, c))
            try:
                obs = hit[1] if hit is not None and hit[0] == raw else decode_observation(raw, c, g, i)
            except Undecodable as e:
                bad = (g, i, c, raw or b"")
                if bad not in self._reported:
                    if len(self._reported) > 10_000:
                        self._reported.clear()
                    self._reported.add(bad)
                    log.warning("ignoring observation znode %s/%s/%s/%s: %s",
                                self._coord.layout.observations, g, i, c, e)
                continue
            decoded[(g, i, c)] = (raw, obs)
            out.setdefault(g, {}).setdefault(i, {})[c] = obs
        self._decoded = decoded  # only what is there now: a deleted vote's entry goes
        self._memo = (stamp, until, out, aged) if version is not None else None
        return out

    # ---------------------------------------------------------------- worker

    def reconcile(self) -> None:
        coord = self._coord
        sid = coord.session_id
        if sid is None or not self._registry.registered():
            return
        with self._lock:
            if sid != self._session:
                self._session = sid
                self._written.clear()
                self._dirty = set(self._wanted)
            batch = {k: self._wanted[k] for k in self._dirty}
            self._dirty.clear()
        if not batch:
            self.rounds.write(sid)
            return
        try:
            self._write(sid, batch)
        except Exception:
            with self._lock:
                self._dirty |= set(batch)
            raise
        self.rounds.write(sid)

    def _write(self, sid: int, batch: dict[Key, Observation]) -> None:
        coord = self._coord
        client = coord.client
        keys = list(batch)
        self._ensure_parents([k for k in keys if k not in self._parents])
        calls: list[tuple[Any, tuple[Any, ...]]] = []
        for k in keys:
            path = coord.layout.observation(k[0], k[1], coord.controller_id)
            data = encode_observation(batch[k])
            if k in self._written:
                calls.append((client.set_async, (path, data)))
            else:
                calls.append((client.create_async, (path, data, None, True)))
        results = coord.many(lambda f, a: f(*a), [(f, a) for f, a in calls])
        retry: set[Key] = set()
        for k, res in zip(keys, results, strict=True):
            if not isinstance(res, Exception):
                self._written.add(k)
            elif isinstance(res, NodeExistsError | NoNodeError):
                self._repair(sid, k, batch[k])
            else:
                log.warning("publishing %s/%s failed: %s", k[0], k[1], res.__class__.__name__)
                retry.add(k)
        if retry:
            with self._lock:
                self._dirty |= retry

    def _ensure_parents(self, keys: list[Key]) -> None:
        """Creates group and instance dirs in two pipelined rounds (not one chain per znode)."""
        if not keys:
            return
        coord = self._coord
        root = coord.layout.observations
        coord.ensure_path(root)
        for paths in (sorted({f"{root}/{g}" for g, _ in keys}),
                      sorted({f"{root}/{g}/{i}" for g, i in keys})):
            for res in coord.many(coord.client.create_async, [(p,) for p in paths]):
                if isinstance(res, Exception) and not isinstance(res, NodeExistsError):
                    raise res
        self._parents.update(keys)

    def _repair(self, sid: int, key: Key, obs: Observation) -> None:
        """The node exists but is not known as ours this session (or vanished): fix it."""
        coord = self._coord
        path = coord.layout.observation(key[0], key[1], coord.controller_id)
        data = encode_observation(obs)
        found = coord.get_or_none(path)
        if found is None:
            coord.call(coord.client.create_async, path, data, ephemeral=True, makepath=True)
        elif int(found[1].ephemeralOwner) == sid:
            coord.call(coord.client.set_async, path, data)
        else:
            # An ephemeral of our id from an older session: replace it so ours survives.
            tx = coord.client.transaction()
            tx.delete(path, version=found[1].version)
            tx.create(path, data, ephemeral=True)
            failed = first_error(coord.commit(tx))
            if failed is not None:
                raise failed[1]
        self._written.add(key)
