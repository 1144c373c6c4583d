"""Leader election and the fencing epoch (implements `ports.Leadership`).

One ephemeral `leader` znode holds the elected controller's id. A replica
becomes leader with one transaction that creates it *and* bumps the epoch
znode's version, so "leader" and "epoch" can never disagree. Whether we lead is
decided by the znode's ephemeral owner being our live session, never by the id
inside it: a restarted process with the same id does not inherit a dead
session's leadership.

`fence()` is local and instant (no network): it refuses while the session is
suspended, after it was lost, once our leader znode was deleted, when ZooKeeper
has not confirmed the office for a lease (see `lease`: a paused process wakes
up refusing), and during a new leader's takeover grace. A prober thread renews
the lease with a pipelined sync + exists of the leader znode. The epoch check in
every journal write covers what remains; a write refused for a stale epoch makes
the leader resign (delete its znode, drop office) and contend again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError
from kazoo.protocol.states import EventType

from failover import metrics
from failover.coordination.codec import Undecodable, controller_id_of, decode, encode
from failover.coordination.fencing import first_error
from failover.coordination.lease import Lease, LeaseTimes
from failover.coordination.registry import ControllerRegistry
from failover.coordination.session import ZkSession
from failover.model import NotLeader
from failover.records import FencingToken

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Held:
    session_id: int
    epoch: int


class ZkLeadership:
    def __init__(self, coord: ZkSession, registry: ControllerRegistry,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._coord = coord
        self._registry = registry
        self._monotonic = monotonic
        self.lease = Lease(LeaseTimes.for_session(coord.config.session_timeout_s), monotonic)
        self._held: _Held | None = None  # replaced whole, so readers need no lock
        self._watch_armed = False  # on the leader znode, ours or the one we follow
        self._was_leader = False
        self._joined = False
        self._stale: int | None = None  # an epoch a fenced write found stale: resign it
        self._stale_at = 0.0
        self._prober: threading.Thread | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ port

    def fence(self) -> FencingToken:
        held = self._office()
        refusal = self.lease.refusal()
        if refusal is not None:
            raise NotLeader(f"{self._coord.controller_id} may not act: {refusal}")
        return FencingToken(self._coord.controller_id, held.epoch)

    def is_leader(self) -> bool:
        """In office and past the takeover grace. A lease that lapsed for a moment (a late
        probe on a loaded host) does not count here: the engine keeps its office, and any
        action it tries meanwhile is refused by `fence`."""
        try:
            self._office()
        except NotLeader:
            return False
        return self.lease.grace_left() == 0.0

    def _office(self) -> _Held:
        held = self._held
        if held is None:
            raise NotLeader(f"{self._coord.controller_id} is not the leader")
        if not self._coord.connected:
            raise NotLeader(f"ZooKeeper session is {self._coord.state}; not acting")
        if self._coord.session_id != held.session_id:
            raise NotLeader("the session that won leadership is gone")
        return held

    def leader_id(self) -> str | None:
        found = self._coord.get_or_none(self._coord.layout.leader)
        return None if found is None else controller_id_of(found[0])

    def controllers(self) -> list[str]:
        return self._registry.live()

    # ------------------------------------------------------------- lifecycle

    def join(self) -> None:
        """Contends from now on (and again after every lost session)."""
        self._joined = True
        self._coord.add_reconciler(self.reconcile, closer=self.resign)
        self._coord.add_local_hook(self._publish_metric)
        self._coord.add_stale_listener(self._on_stale)
        self._prober = threading.Thread(target=self._probe_loop, daemon=True,
                                        name=f"zk-lease-{self._coord.controller_id}")
        self._prober.start()

    def resign(self) -> None:
        """Gives leadership up at once (graceful shutdown)."""
        self._joined = False
        self._stop.set()
        self._give_up("shutting down", logging.INFO)

    def _give_up(self, why: str, level: int = logging.WARNING) -> None:
        """Drops office, then deletes our leader znode and marks the epoch znode "resigned"
        in one transaction, so the next leader sees a clean handover and skips the grace.
        Setting the epoch znode bumps its version: our own token is stale from then on."""
        held, self._held = self._held, None
        self.lease.end()
        metrics.set_leader(False)
        if held is None:
            return
        self._was_leader = False
        coord = self._coord
        if coord.session_id == held.session_id:
            found = coord.get_or_none(coord.layout.leader)
            if found is not None and found[1].ephemeralOwner == held.session_id:
                tx = coord.client.transaction()
                tx.delete(coord.layout.leader, version=found[1].version)
                tx.set_data(coord.layout.epoch, encode({
                    "epoch": held.epoch, "leader": coord.controller_id, "session": held.session_id,
                    "resigned": True, "at": time.time()}))
                failed = first_error(coord.commit(tx))
                if failed is not None:
                    raise failed[1]
        log.log(level, "resigned leadership (epoch %d): %s", held.epoch, why)

    def _on_stale(self, epoch: int) -> None:
        # Any thread (a journal write): stop acting at once, resign on the worker.
        held = self._held
        if held is not None and held.epoch == epoch:
            self._stale, self._stale_at = epoch, self._monotonic()
            self.lease.end()
            self._coord.wake()

    # ---------------------------------------------------------------- worker

    def _on_leader_event(self, event: Any) -> None:
        # kazoo's thread: flags only. A deleted leader znode (ours or theirs) means
        # whoever held it does not any more; a NONE event is a connection change
        # (kazoo drops every watch then, so it must be armed again).
        if event.type == EventType.DELETED:
            self._held = None
        self._watch_armed = False
        self._coord.wake()

    def reconcile(self) -> None:
        coord = self._coord
        sid = coord.session_id
        held = self._held
        if self._was_leader and (held is None or held.session_id != sid):
            self._lose("session lost" if held is not None else "leader znode deleted")
            held = None
        stale, self._stale = self._stale, None
        if held is not None and stale == held.epoch:
            self._give_up(f"epoch {stale} is stale (bumped by someone else) since "
                          f"{self._monotonic() - self._stale_at:.2f} s; contending again")
            held = None
        if not self._joined or sid is None or not self._registry.registered():
            return
        if held is not None:
            if not self._watch_armed:
                self._watch_own(sid)
            return
        if self._watch_armed:
            return  # following: the watch on the leader znode wakes us
        for _ in range(5):  # BadVersion means another bump raced us: re-read and retry
            if self._try_acquire(sid):
                return

    def _publish_metric(self) -> None:
        # The gauge drops while suspended, and comes back if the same session resumes.
        held = self._held
        metrics.set_leader(self.is_leader(), None if held is None else held.epoch)

    def _lose(self, why: str) -> None:
        self._held = None
        self.lease.end()
        if self._was_leader:
            self._was_leader = False
            metrics.set_leader(False)
            log.warning("leadership lost: %s", why)

    def _watch_own(self, sid: int) -> None:
        coord = self._coord
        stat = coord.call(coord.client.exists_async, coord.layout.leader, watch=self._on_leader_event)
        if stat is None or int(stat.ephemeralOwner) != sid:
            self._lose("leader znode is gone")
            coord.wake()
            return
        self._watch_armed = True

    def _try_acquire(self, sid: int) -> bool:
        """One attempt; True when settled (won, or following a live leader)."""
        coord = self._coord
        lay = coord.layout
        found = coord.get_or_none(lay.epoch)
        if found is None:
            with contextlib.suppress(NodeExistsError):
                coord.call(coord.client.create_async, lay.epoch, encode({"epoch": 0}))
            return False
        version = int(found[1].version)
        epoch = version + 1
        grace = version > 0 and self._previous_may_act(found[0])
        now = time.time()
        tx = coord.client.transaction()
        tx.create(lay.leader, encode({"id": coord.controller_id, "epoch": epoch, "at": now}),
                  ephemeral=True)
        tx.set_data(lay.epoch, encode({"epoch": epoch, "leader": coord.controller_id, "at": now,
                                       "session": sid}), version=version)
        sent = self._monotonic()
        failed = first_error(coord.commit(tx))
        if failed is None:
            self._won(sid, epoch, sent, grace)
            return True
        index, err = failed
        if index == 1 and isinstance(err, BadVersionError):
            return False
        if not isinstance(err, NodeExistsError):
            raise err
        return self._follow(sid)

    def _follow(self, sid: int) -> bool:
        coord = self._coord
        found = coord.get_or_none(coord.layout.leader, watch=self._on_leader_event)
        if found is None:
            return False  # released meanwhile: contend again
        if int(found[1].ephemeralOwner) == sid:
            # Our own earlier transaction went through but its answer was lost.
            epoch_node = coord.get_or_none(coord.layout.epoch)
            if epoch_node is None:
                return False
            # The grace is kept: what the previous leader may still do is not known here.
            self._won(sid, int(epoch_node[1].version), self._monotonic(), grace=True)
            return True
        self._watch_armed = True
        return True

    def _previous_may_act(self, raw: bytes | None) -> bool:
        """Whether the last leader, as the epoch znode names it, might still pass its lease:
        False only when ZooKeeper shows it cannot (it resigned, or its session is gone)."""
        try:
            doc = decode(raw)
            resigned, owner, session = bool(doc.get("resigned")), doc.get("leader"), doc.get("session")
        except Undecodable:
            return True
        if resigned:
            return False
        if not isinstance(owner, str) or not isinstance(session, int):
            return True  # written by an older version, or by hand: assume the worst
        try:
            found = self._coord.get_or_none(self._coord.layout.controller(owner))
        except ValueError:
            return True
        # Every ephemeral of a session goes when it expires: its registration too.
        return found is not None and int(found[1].ephemeralOwner) == session

    def _won(self, sid: int, epoch: int, sent_at: float, grace: bool) -> None:
        self._held = _Held(sid, epoch)
        self._was_leader = True
        self._watch_armed = False
        self.lease.begin(sent_at, grace)
        metrics.set_leader(True, epoch)
        log.info("became leader", extra={"controller": self._coord.controller_id, "epoch": epoch,
                                         "grace_s": round(self.lease.grace_left(), 3)})
        # Watch our own znode so a deletion (operator, expiry) revokes at once.
        self._watch_own(sid)

    # ----------------------------------------------------------------- lease

    def _probe_loop(self) -> None:
        every = self.lease.times.probe_every_s
        while not self._stop.wait(every):
            try:
                self.probe()
            except Exception as e:  # the lease simply is not renewed
                log.debug("lease probe failed: %s", e.__class__.__name__)
            # The gauge's one writer is this module: the grace ending or the lease lapsing
            # changes is_leader() with no event, so each probe publishes it too.
            self._publish_metric()

    def probe(self) -> bool:
        """One renewal: sync, then read the leader znode, pipelined on our session (ZooKeeper
        answers a session's requests in order, so the read sees at least the state at the
        sync: a lagging follower cannot confirm an office already lost). True when renewed."""
        held, term = self._held, self.lease.term
        coord = self._coord
        if held is None or coord.session_id != held.session_id or not coord.connected:
            return False
        sent = self._monotonic()
        synced = coord.client.sync_async(coord.layout.leader)
        read = coord.client.exists_async(coord.layout.leader)
        with contextlib.suppress(NoNodeError):
            synced.get(timeout=coord.op_timeout_s)
        stat = read.get(timeout=coord.op_timeout_s)
        if stat is None or int(stat.ephemeralOwner) != held.session_id:
            coord.wake()
            return False
        self.lease.confirm(term, sent)
        return True
