"""The leader's loop: snapshot, decide, dispatch; failovers run in a bounded pool.

Each tick builds every group's view from what the cloud shows (the `EniObserver`'s last
batched read of the ENIs) and the quorum's verdicts, so the leader acts on any difference
between the world and what the group needs, whoever caused it (level-triggered). A read
that started before this leader's last move of a group is no evidence about that group.

Followers tick too but do nothing beyond exporting that they are not the
leader. The loop never blocks on a failover: each runs in the pool, at most
`controller.max_parallel_failovers` at once (a zone outage moves many groups);
releases of returned former holders queue in a pool of their own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import replace

from failover import metrics, quorum
from failover.config import Config, GroupConfig
from failover.engine.decide import Action, Kind, Snapshot, decide
from failover.engine.execute import Collaborators, Executor, describe_error
from failover.engine.exports import ViewExports
from failover.engine.observe import EniObserver
from failover.engine.view import EniSeen, GroupView, build_view
from failover.model import (
    CloudError,
    EniState,
    EniStatus,
    JournalCorrupt,
    NotLeader,
    Priority,
    Trigger,
)
from failover.ports import Observations, Requests
from failover.records import FailoverRecord, GroupState

log = logging.getLogger("failover.engine")

Readiness = Callable[[], Mapping[str, Mapping[str, bool]]]
# Releases of returned former holders at once. They only clean an OS the ENI already left,
# with budget no failover wants; a few at a time bounds the threads a returning zone holds.
RELEASE_WORKERS = 8


class Engine:
    def __init__(
        self, cfg: Config, deps: Collaborators, observations: Observations, requests: Requests,
        readiness: Readiness | None = None, recheck_readiness: Callable[[str], None] | None = None,
        observer: EniObserver | None = None,
        paused: Callable[[], Mapping[str, float]] | None = None,
    ) -> None:
        self.cfg = cfg
        self.d = deps
        self.executor = Executor(deps)
        self.observations = observations
        self.requests = requests
        self.readiness: Readiness = readiness or dict
        self._recheck_readiness = recheck_readiness or (lambda group: None)
        self.paused = paused or dict  # `failover pause`: group -> since (Unix time)
        self._loop_at = deps.clock.monotonic()  # liveness: when run_forever last came round
        self._pool = ThreadPoolExecutor(cfg.controller.max_parallel_failovers, "failover")
        # Releases queue in their own pool: when a zone returns, a hundred of them must not
        # stand between the next failover and a worker.
        self._housekeeping = ThreadPoolExecutor(RELEASE_WORKERS, "release")
        self._lock = threading.Lock()
        self._running: dict[str, Future[None]] = {}  # failovers, one per group
        self._releasing: dict[str, set[str]] = {}  # reverse scripts on former holders, by group
        self._states: dict[str, GroupState] = {}
        self._unfinished: dict[str, FailoverRecord] = {}
        self._last_block: dict[str, str] = {}
        self._unknown: dict[str, str] = {}  # groups left out of decisions, and why
        self._retry_at: dict[str, float] = {}
        self._seen_up: set[tuple[str, str]] = set()  # (group, member) the quorum saw up last tick
        self._in_office = False
        # Without an observer of its own thread (unit tests), the engine reads the ENIs each tick.
        self._inline = observer is None
        self.observer = observer or EniObserver(cfg.groups, deps.cloud, deps.clock, interval_s=0.0)
        # group -> monotonic time before which an ENI read is no evidence: the end of this
        # leader's last move of the group, or when it took office (a follower reads rarely).
        self._fresh_after: dict[str, float] = {}
        self._exports = ViewExports()

    # ----------------------------------------------------------------- loop

    def run_forever(self, stop: threading.Event) -> None:
        pause = self.cfg.controller.tick_s
        last_error = ""
        while not stop.is_set():
            try:
                self.tick()
                pause, last_error = self.cfg.controller.tick_s, ""
            except NotLeader:
                self._in_office = False
            except Exception as e:
                # ZooKeeper or the cloud is failing: back off, and say it once, not 20 times a second.
                error = describe_error(e)
                if error != last_error:
                    log.warning("engine tick failed; retrying with back-off", extra={"error": error})
                    last_error = error
                pause = min(max(pause * 2, 0.2), 2.0)
            self._loop_at = self.d.clock.monotonic()
            self.d.clock.wait(stop, pause)

    def reconfigure(self, cfg: Config, deps: Collaborators, readiness: Readiness,
                    recheck_readiness: Callable[[str], None]) -> None:
        """A reload, inside this engine: running failovers and releases go on with the group
        config they started with (and stay the only ones of their group); the next tick
        decides on the new groups, after re-reading the journal. Never a second engine."""
        with self._lock:
            self.cfg = cfg
            self.d = self.executor.d = deps
            self.readiness = readiness
            self._recheck_readiness = recheck_readiness
            self._in_office = False
        self.observer.reconfigure(cfg.groups)

    def loop_age(self) -> float:
        """Seconds since the loop last finished a round (a failed one counts: ZooKeeper being
        down is not a wedged loop, and a restart would not help it)."""
        return self.d.clock.monotonic() - self._loop_at

    def shutdown(self, grace_s: float = 30.0) -> None:
        """Lets running failovers finish their steps (bounded), then stops the pool."""
        with self._lock:
            running = list(self._running.values())
        if running:
            log.info("waiting for %d running failovers before shutdown", len(running))
            wait_futures(running, timeout=grace_s)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._housekeeping.shutdown(wait=False, cancel_futures=True)

    def tick(self) -> list[Action]:
        leader = self.d.leadership.is_leader()
        if not leader:
            self._in_office = False
            return []
        if not self._in_office:
            self._take_office()
            self._in_office = True
        actions = decide(self.snapshot())
        for action in actions:
            self._dispatch(action)
        return actions

    # ------------------------------------------------------------- snapshot

    def _take_office(self) -> None:
        """A new leader reads the journal and learns holders it does not know from the cloud."""
        states: dict[str, GroupState] = {}
        enis = self._read_enis()
        for g in self.cfg.groups:
            state = self._load_group(g, enis)
            if state is not None:
                states[g.name] = state
        unfinished = {r.group: r for r in self.d.journal.unfinished()}
        now = self.d.clock.monotonic()
        with self._lock:
            self._states = states
            self._unfinished = unfinished
            for g in self.cfg.groups:
                self._fresh_after[g.name] = max(now, self._fresh_after.get(g.name, now))
        self.observer.wake()
        log.info("leading", extra={"groups": len(states), "unfinished": len(unfinished),
                                   "unknown": sorted(self._unknown)})

    def _read_enis(self) -> Mapping[str, EniState]:
        """Every group's ENI in one batched read (pages of 100, not a round per group: a new
        leader of 1,000 groups took minutes to take office); {} if the cloud does not answer
        (each group then reads its own)."""
        try:
            return self.d.cloud.describe_enis([g.network_interface for g in self.cfg.groups],
                                              priority=Priority.FAILOVER)
        except CloudError as e:
            log.warning("could not read the groups' ENIs at once", extra={"error": describe_error(e)})
            return {}

    def _load_group(self, g: GroupConfig, enis: Mapping[str, EniState] | None = None,
                    ) -> GroupState | None:
        """The group's state, its holder filled in from the cloud; None while it cannot be known.

        A group whose state is corrupt or whose ENI cannot be read is left out of every
        decision (a guessed holder could move a healthy service) but never stops the others.
        """
        try:
            state = self.d.journal.group_state(g.name)
            if state.holder is None:
                eni = (enis or {}).get(g.network_interface) or self.d.cloud.describe_eni(
                    g.network_interface, priority=Priority.FAILOVER)
                if eni.instance_id and eni.status in (EniStatus.IN_USE, EniStatus.ATTACHING):
                    # A group the journal never knew: its holder is taken as found, serving.
                    state = replace(state, holder=eni.instance_id, configured=eni.instance_id)
                    self.d.journal.set_group_state(state, self.d.leadership.fence())
        except (JournalCorrupt, CloudError) as e:
            reason = describe_error(e)
            if self._unknown.get(g.name) != reason:
                log.error("group left out of decisions until its state can be read",
                          extra={"group": g.name, "error": reason})
            self._unknown[g.name] = reason
            self._retry_at[g.name] = self.d.clock.monotonic() + 2.0
            return None
        if self._unknown.pop(g.name, None) is not None:
            log.info("group state readable again", extra={"group": g.name})
        return state

    def snapshot(self) -> Snapshot:
        obs = self.observations.snapshot()
        live = quorum.electorate(len(self.d.leadership.controllers()), self.cfg.controller.replicas)
        readiness = self.readiness()
        if self._inline:
            self.observer.refresh()
        seen = self.observer.seen()
        paused = self.paused()
        views = []
        for g in self.cfg.groups:
            if g.name in self._unknown:
                if self.d.clock.monotonic() < self._retry_at.get(g.name, 0.0):
                    continue
                loaded = self._load_group(g)
                if loaded is None:
                    continue
                with self._lock:
                    self._states[g.name] = loaded
            with self._lock:
                state = self._states.get(g.name) or GroupState(g.name)
                running = g.name in self._running
                releasing = frozenset(self._releasing.get(g.name, ()))
                unfinished = self._unfinished.get(g.name)
                after = self._fresh_after.get(g.name)
            if state.blocked:  # an operator's `ack` writes to ZooKeeper directly
                reread = self._load_group(g)
                if reread is None:
                    continue
                state = reread
                with self._lock:
                    self._states[g.name] = state
            eni = seen.get(g.network_interface)
            if eni is not None and after is not None and eni.at < after:
                eni = None  # read before our last move or our taking office: wait for a newer one
                self.observer.wake()
            view = build_view(g, state, obs.get(g.name, {}), live, eni=eni,
                              ready=readiness.get(g.name, {}), unfinished=unfinished,
                              running=running, releasing=releasing, paused=g.name in paused,
                              now=self.d.clock.now())
            self._exports.export(view)
            metrics.set_paused(g.name, paused.get(g.name))
            self._recheck_returning(view)
            views.append(view)
        return Snapshot(self.d.clock.now(), tuple(views), tuple(self.requests.pending()))

    def _recheck_returning(self, view: GroupView) -> None:
        """A standby the quorum sees come back up while readiness still says "not ready" (read
        while it was down) is re-read now, not at the next slow round: a failover may need it."""
        back = False
        for m in view.config.members:
            key = (view.name, m)
            if view.member_up.get(m) is True:
                back = back or (key not in self._seen_up and view.ready.get(m) is False)
                self._seen_up.add(key)
            else:
                self._seen_up.discard(key)
        if back:
            self._recheck_readiness(view.name)

    # ------------------------------------------------------------- dispatch

    def _dispatch(self, action: Action) -> None:
        group = self._group(action.group)
        if action.kind is Kind.REJECT:
            self._reject(action)
        elif action.kind is Kind.BLOCK:
            self._block(action)
        elif group is None:
            return
        elif action.kind in (Kind.RESUME, Kind.ABANDON) and action.record is not None:
            self._resume(group, action, action.record)
        elif action.kind in (Kind.FAILOVER, Kind.DRILL, Kind.ADOPT) and action.to_instance is not None:
            self._start(group, action)
        elif action.kind is Kind.RELEASE and action.from_instance is not None:
            self._start_release(group, action.from_instance)

    def _resume(self, group: GroupConfig, action: Action, seen: FailoverRecord) -> None:
        """Re-reads the record first: the copy taken at election may be stale (a job that
        ended since, another leader's work), and a finished failover is never run again."""
        with self._lock:
            self._unfinished.pop(group.name, None)
        record = self.d.journal.get(seen.id)
        if record is None or record.finished:
            log.info("unfinished failover already closed; deciding afresh",
                     extra={"group": group.name, "failover": seen.id})
            return
        log.info(action.reason, extra={"group": group.name, "failover": record.id})
        if action.kind is Kind.ABANDON:
            self._submit(group, lambda: self._abandon(group, record, action.reason))
        else:
            self._submit(group, lambda: self._run(group, record))

    def _abandon(self, group: GroupConfig, record: FailoverRecord, reason: str) -> None:
        final = self.executor.abandon(group, record, reason)
        if final.request_id:
            self.requests.set_result(final.request_id, final.id, final.result.value)

    def _start(self, group: GroupConfig, action: Action) -> None:
        assert action.to_instance is not None
        request_id = None
        if action.kind is Kind.DRILL and action.request is not None:
            request_id = action.request.id
            if not self.requests.claim(request_id, self.d.leadership.fence()):
                return  # another leader took it: executed exactly once
        self._last_block.pop(group.name, None)
        if action.code == "not_serving":
            self.executor.note_not_serving(group, action.to_instance)
        trigger = {Kind.DRILL: Trigger.DRILL, Kind.ADOPT: Trigger.ADOPT}.get(action.kind, Trigger.AUTO)
        record = self.executor.begin(group, action.from_instance, action.to_instance, trigger,
                                     action.reason, request_id)
        if request_id is not None:
            self.requests.set_result(request_id, record.id, "started")
        self._submit(group, lambda: self._run(group, record))

    def _submit(self, group: GroupConfig, job: Callable[[], None]) -> None:
        with self._lock:
            if group.name in self._running:
                return
            future = self._pool.submit(self._guarded, group, job)
            self._running[group.name] = future

    def _guarded(self, group: GroupConfig, job: Callable[[], None]) -> None:
        try:
            job()
        except NotLeader as e:
            log.warning("lost leadership during a failover; the next leader resumes it",
                        extra={"group": group.name, "error": str(e)})
            self._in_office = False  # if we lead again, re-read the journal and resume it ourselves
        except Exception as e:
            log.exception("failover job crashed", extra={"group": group.name, "error": describe_error(e)})
            self._in_office = False
        finally:
            state: GroupState | None = None
            try:
                state = self.d.journal.group_state(group.name)
            except Exception:
                log.warning("could not re-read group state", extra={"group": group.name})
            # A verify's look at the ENI is a read newer than the move: no read needs to wait
            # for (a zone outage ends a hundred of these). Otherwise: read again now.
            look = self.executor.take_verified(group.name)
            with self._lock:
                if state is not None:
                    self._states[group.name] = state
                self._running.pop(group.name, None)
                self._fresh_after[group.name] = look[0] if look else self.d.clock.monotonic()
            if look is not None:
                self.observer.note(group.network_interface, EniSeen.of(look[1], look[0]))
            else:
                self.observer.wake()

    def _run(self, group: GroupConfig, record: FailoverRecord) -> None:
        final = self.executor.run(group, record)
        if final.request_id:
            self.requests.set_result(final.request_id, final.id, final.result.value)

    def _start_release(self, group: GroupConfig, instance: str) -> None:
        """Housekeeping in its own pool, outside the group's failover slot: a slow or hung
        reverse script on a former holder must never delay the group's next failover."""
        with self._lock:
            busy = self._releasing.setdefault(group.name, set())
            if instance in busy:
                return
            busy.add(instance)

        def job() -> None:
            released = False
            try:
                released = self.executor.release(group, instance)
            except NotLeader as e:
                log.info("release interrupted: not the leader", extra={"group": group.name, "error": str(e)})
            except Exception as e:
                log.warning("release of a former holder failed",
                            extra={"group": group.name, "error": describe_error(e)})
            with self._lock:
                self._releasing.get(group.name, set()).discard(instance)
                cached = self._states.get(group.name)
                # Only this field: a concurrent failover may have changed the rest meanwhile.
                if released and cached is not None:
                    left = tuple(i for i in cached.pending_release if i != instance)
                    self._states[group.name] = replace(cached, pending_release=left)

        self._housekeeping.submit(job)

    def _reject(self, action: Action) -> None:
        if action.request is None:
            return
        if self.requests.claim(action.request.id, self.d.leadership.fence()):
            self.requests.set_result(action.request.id, None, f"rejected: {action.reason}")
            log.warning("drill rejected", extra={"group": action.group, "reason": action.reason})

    def _block(self, action: Action) -> None:
        group = self._group(action.group)
        if action.block_group and group is not None:
            reason = action.reason.split("; run")[0]
            self.executor.update_state(group, self.d.leadership.fence(),
                                       lambda st: replace(st, blocked=True, blocked_reason=reason))
            fresh = self.d.journal.group_state(group.name)
            with self._lock:
                self._states[group.name] = fresh
        if action.unready:
            self._recheck_readiness(action.group)  # "not ready" may be a stale answer
        # Cooldown text changes every second; a change of kind is what is news.
        if self._last_block.get(action.group) != action.code:
            self._last_block[action.group] = action.code
            metrics.record_decision(action.group, action.code)
            log.warning("failover blocked", extra={"group": action.group, "reason": action.reason})

    def _group(self, name: str) -> GroupConfig | None:
        for g in self.cfg.groups:
            if g.name == name:
                return g
        return None
