"""The leader's loop: refresh, snapshot, show, decide, dispatch; failovers run in a bounded pool.

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
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import replace
from typing import assert_never

from failover import metrics, quorum
from failover.config import Config, GroupConfig
from failover.engine.actions import (
    Abandon,
    Action,
    Adopt,
    Block,
    Drill,
    Failover,
    Move,
    Reject,
    Release,
    Resume,
)
from failover.engine.blocks import BlockCode
from failover.engine.decide import Snapshot, resume_waits_for_readiness
from failover.engine.errors import describe_error
from failover.engine.execute import Collaborators, Executor
from failover.engine.exports import ViewExports
from failover.engine.ledger import Ledger
from failover.engine.loading import GroupLoader
from failover.engine.memo import Sources, TickMemo
from failover.engine.observe import EniObserver
from failover.engine.orphans import OrphanSweep
from failover.engine.view import EniSeen, GroupView
from failover.model import NotLeader
from failover.ports import Observations, Requests
from failover.records import FailoverRecord, GroupState

log = logging.getLogger("failover.engine")

Readiness = Callable[[], Mapping[str, Mapping[str, bool]]]
ReadTimes = Callable[[], Mapping[str, float]]
# Releases of returned former holders at once. They only clean an OS the ENI already left,
# with budget no failover wants; a few at a time bounds the threads a returning zone holds.
RELEASE_WORKERS = 8


class Engine:
    def __init__(
        self, cfg: Config, deps: Collaborators, observations: Observations, requests: Requests,
        readiness: Readiness | None = None, recheck_readiness: Callable[[str], None] | None = None,
        observer: EniObserver | None = None,
        paused: Callable[[], Mapping[str, float]] | None = None,
        readiness_read_at: ReadTimes | None = None,
    ) -> None:
        self.cfg = cfg
        self.deps = deps
        self.executor = Executor(deps)
        self.observations = observations
        self.requests = requests
        self.readiness: Readiness = readiness or dict
        self._recheck_readiness = recheck_readiness or (lambda group: None)
        # group -> when its readiness answer was read (monotonic); without it, taken as fresh.
        self._readiness_read_at = readiness_read_at
        self.paused = paused or dict  # `failover pause`: group -> since (Unix time)
        self._loop_at = deps.clock.monotonic()  # liveness: when run_forever last came round
        self._pool = ThreadPoolExecutor(cfg.controller.max_parallel_failovers, "failover")
        # Releases queue in their own pool: when a zone returns, a hundred of them must not
        # stand between the next failover and a worker.
        self._housekeeping = ThreadPoolExecutor(RELEASE_WORKERS, "release")
        self.ledger = Ledger()
        self._loader = GroupLoader(lambda: self.deps)
        self._last_block: dict[str, BlockCode] = {}
        self._seen_up: set[tuple[str, str]] = set()  # (group, member) the quorum saw up last tick
        self._in_office = False
        self._office_at = 0.0  # monotonic: when this leader last took office
        self._told_waiting: set[str] = set()  # groups whose resume waits for readiness (logged once)
        self._orphans = OrphanSweep()  # drill requests a claimer left unanswered
        # Without an observer of its own thread (unit tests), the engine reads the ENIs each tick.
        self._inline = observer is None
        self.observer = observer or EniObserver(cfg.groups, deps.cloud, deps.clock, interval_s=0.0)
        self._exports = ViewExports()
        self._memo = TickMemo()
        self._shown: tuple[GroupView, ...] | None = None  # the views `_show` last went through
        self._shown_each: dict[str, GroupView] = {}
        self._watch: list[GroupView] = []  # views that ask for something every tick

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
            self._loop_at = self.deps.clock.monotonic()
            self.deps.clock.wait(stop, pause)

    def reconfigure(self, cfg: Config, deps: Collaborators, readiness: Readiness,
                    recheck_readiness: Callable[[str], None],
                    readiness_read_at: ReadTimes | None = None) -> None:
        """A reload, inside this engine: running failovers and releases go on with the group
        config they started with (and stay the only ones of their group); the next tick
        decides on the new groups, after re-reading the journal. Never a second engine."""
        with self.ledger.lock:
            self.cfg = cfg
            self.deps = self.executor.deps = deps
            self.readiness = readiness
            self._recheck_readiness = recheck_readiness
            self._readiness_read_at = readiness_read_at
            self._in_office = False
        self.observer.reconfigure(cfg.groups)

    def loop_age(self) -> float:
        """Seconds since the loop last finished a round (a failed one counts: ZooKeeper being
        down is not a wedged loop, and a restart would not help it)."""
        return self.deps.clock.monotonic() - self._loop_at

    def shutdown(self, grace_s: float = 30.0) -> None:
        """Lets running failovers finish their steps (bounded), then stops the pool."""
        running = self.ledger.jobs()
        if running:
            log.info("waiting for %d running failovers before shutdown", len(running))
            wait_futures(running, timeout=grace_s)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._housekeeping.shutdown(wait=False, cancel_futures=True)

    def tick(self) -> list[Action]:
        leader = self.deps.leadership.is_leader()
        if not leader:
            self._in_office = False
            return []
        if not self._in_office:
            self._take_office()
            self._in_office = True
        self._orphans.run_if_due(self.deps.clock.monotonic(), self.requests, self.deps.journal)
        self._refresh()
        paused = self.paused()
        snapshot = self.snapshot(paused)
        self._show(snapshot, paused)
        actions = self._memo.decide(snapshot)
        for action in actions:
            self._dispatch(action)
        return actions

    # ------------------------------------------------------------- snapshot

    def _take_office(self) -> None:
        """A new leader reads the journal and learns holders it does not know from the cloud."""
        states: dict[str, GroupState] = {}
        enis = self._loader.read_enis(self.cfg.groups)
        for group in self.cfg.groups:
            state = self._loader.load(group, enis)
            if state is not None:
                states[group.name] = state
        unfinished = {r.group: r for r in self.deps.journal.unfinished()}
        self._office_at = self.deps.clock.monotonic()
        self._told_waiting.clear()
        self._orphans.took_office()
        self.ledger.take_office(states, unfinished, [g.name for g in self.cfg.groups], self._office_at)
        self.observer.wake()
        log.info("leading", extra={"groups": len(states), "unfinished": len(unfinished),
                                   "unknown": sorted(self._loader.left_out)})

    def _refresh(self) -> None:
        """The tick's first step: what the caches need before a snapshot. Re-reads the groups
        left out of decisions (when due) and the blocked ones (an operator's `ack` writes to
        ZooKeeper directly); a group the journal never knew gets the holder the cloud shows,
        written to ZooKeeper. Without an observer thread, the ENIs are read here too."""
        if self._inline:
            self.observer.refresh()
        left_out, blocked = self._loader.left_out, self.ledger.blocked()
        if not left_out and not blocked:
            return  # nearly every tick: nothing to re-read
        for group in self.cfg.groups:
            if group.name not in left_out and group.name not in blocked:
                continue
            if group.name in left_out:
                if not self._loader.due(group.name):
                    continue
                loaded = self._loader.load(group)
                if loaded is None:
                    continue
                self.ledger.set_state(group.name, loaded)
            cached = self.ledger.state(group.name)
            if cached is not None and cached.blocked:
                reread = self._loader.load(group)  # a failure leaves the group out
                if reread is not None:
                    self.ledger.set_state(group.name, reread)

    def snapshot(self, paused: Mapping[str, float] | None = None) -> Snapshot:
        """What decide gets: every group's view from the caches and the ports' current answers,
        leaving out the groups whose state cannot be known. Reads only. A view is rebuilt only
        when its inputs changed or its time came (engine/memo.py)."""
        read_at = self._readiness_read_at() if self._readiness_read_at is not None else None
        live = quorum.electorate(len(self.deps.leadership.controllers()), self.cfg.controller.replicas)
        sources = Sources(self.cfg.groups, tuple(self._loader.left_out), self.ledger.version,
                          self._office_at, self.observations.snapshot(), live, self.readiness(),
                          read_at, self.observer.seen(), self.paused() if paused is None else paused)
        now = self.deps.clock.now()
        return Snapshot(now, self._memo.views(sources, now, self.ledger.recall)[0],
                        tuple(self.requests.pending()))

    def _show(self, snapshot: Snapshot, paused: Mapping[str, float]) -> None:
        """The step after each snapshot: its gauges and log lines, a readiness re-read for a
        standby that came back, and an early ENI read for a group with no look newer than our
        last move. Showing a view again changes nothing: only views not shown yet are."""
        if snapshot.groups is not self._shown:
            shown, self._watch = self._shown_each, []
            for view in snapshot.groups:
                if shown.get(view.name) is not view:
                    self._exports.export(view)
                    self._exports.paused(view.name, paused.get(view.name))
                    self._recheck_returning(view)
                if view.eni is None or resume_waits_for_readiness(view):
                    self._watch.append(view)
            self._shown, self._shown_each = snapshot.groups, {v.name: v for v in snapshot.groups}
        for view in self._watch:  # every tick, as long as the view says so
            if resume_waits_for_readiness(view):
                self._recheck_readiness(view.name)  # before abandoning a failover on old news
                if view.name not in self._told_waiting:
                    self._told_waiting.add(view.name)
                    log.info("unfinished failover waits for a re-read of its target's readiness "
                             "(the answer predates this leader)", extra={"group": view.name})
            if view.eni is None:
                self.observer.wake()

    def _recheck_returning(self, view: GroupView) -> None:
        """A standby the quorum sees come back up while readiness still says "not ready" (read
        while it was down) is re-read now, not at the next slow round: a failover may need it."""
        back = False
        for member in view.config.members:
            key = (view.name, member)
            if view.member_up.get(member) is True:
                back = back or (key not in self._seen_up and view.ready.get(member) is False)
                self._seen_up.add(key)
            else:
                self._seen_up.discard(key)
        if back:
            self._recheck_readiness(view.name)

    # ------------------------------------------------------------- dispatch

    def _dispatch(self, action: Action) -> None:
        if isinstance(action, Reject):
            self._reject(action)
            return
        if isinstance(action, Block):
            self._block(action)
            return
        group = self._group(action.group)
        if group is None:
            return
        match action:
            case Resume() | Abandon():
                self._resume(group, action)
            case Failover() | Drill() | Adopt():
                self._start(group, action)
            case Release():
                self._start_release(group, action.instance)
            case _:
                assert_never(action)

    def _resume(self, group: GroupConfig, action: Resume | Abandon) -> None:
        """Re-reads the record first: the copy taken at election may be stale (a job that
        ended since, another leader's work), and a finished failover is never run again."""
        seen = action.record
        self.ledger.drop_unfinished(group.name)
        record = self.deps.journal.get(seen.id)
        if record is None or record.finished:
            log.info("unfinished failover already closed; deciding afresh",
                     extra={"group": group.name, "failover": seen.id})
            return
        log.info(action.reason, extra={"group": group.name, "failover": record.id})
        if isinstance(action, Abandon):
            self._submit(group, lambda: self._abandon(group, record, action.reason))
        else:
            self._submit(group, lambda: self._run(group, record))

    def _abandon(self, group: GroupConfig, record: FailoverRecord, reason: str) -> None:
        final = self.executor.abandon(group, record, reason)
        if final.request_id:
            self.requests.set_result(final.request_id, final.id, final.result.value)

    def _start(self, group: GroupConfig, action: Move) -> None:
        request_id = None
        if isinstance(action, Drill):
            request_id = action.request.id
            if not self.requests.claim(request_id, self.deps.leadership.fence()):
                return  # another leader took it: executed exactly once
        self._last_block.pop(group.name, None)
        if isinstance(action, Adopt) and action.not_serving:
            self.executor.note_not_serving(group, action.to_instance)
        record = self.executor.begin(group, action.from_instance, action.to_instance, action.trigger,
                                     action.reason, request_id)
        if request_id is not None:
            self.requests.set_result(request_id, record.id, "started")
        self._submit(group, lambda: self._run(group, record))

    def _submit(self, group: GroupConfig, job: Callable[[], EniSeen | None]) -> None:
        self.ledger.claim(group.name, lambda: self._pool.submit(self._guarded, group, job))

    def _guarded(self, group: GroupConfig, job: Callable[[], EniSeen | None]) -> None:
        """Runs a failover job; `job` returns its verify's look at the ENI, if it has one."""
        look: EniSeen | None = None
        try:
            look = job()
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
                state = self.deps.journal.group_state(group.name)
            except Exception:
                log.warning("could not re-read group state", extra={"group": group.name})
            # A verify's look at the ENI is a read newer than the move: no read needs to wait
            # for (a zone outage ends a hundred of these). Otherwise: read again now.
            self.ledger.job_ended(group.name, state, look.at if look else self.deps.clock.monotonic())
            if look is not None:
                self.observer.note(group.network_interface, look)
            else:
                self.observer.wake()

    def _run(self, group: GroupConfig, record: FailoverRecord) -> EniSeen | None:
        finished = self.executor.run(group, record)
        final = finished.record
        if final.request_id:
            self.requests.set_result(final.request_id, final.id, final.result.value)
        return finished.look

    def _start_release(self, group: GroupConfig, instance: str) -> None:
        """Housekeeping in its own pool, outside the group's failover slot: a slow or hung
        reverse script on a former holder must never delay the group's next failover."""
        if not self.ledger.begin_release(group.name, instance):
            return

        def job() -> None:
            released = False
            try:
                released = self.executor.release(group, instance)
            except NotLeader as e:
                log.info("release interrupted: not the leader", extra={"group": group.name, "error": str(e)})
            except Exception as e:
                log.warning("release of a former holder failed",
                            extra={"group": group.name, "error": describe_error(e)})
            self.ledger.release_ended(group.name, instance, released)

        self._housekeeping.submit(job)

    def _reject(self, action: Reject) -> None:
        if self.requests.claim(action.request.id, self.deps.leadership.fence()):
            self.requests.set_result(action.request.id, None, f"rejected: {action.reason}")
            log.warning("drill rejected", extra={"group": action.group, "reason": action.reason})

    def _block(self, action: Block) -> None:
        group = self._group(action.group)
        if action.persists and group is not None:
            reason = action.blocked_reason
            self.executor.update_state(group, self.deps.leadership.fence(),
                                       lambda state: replace(state, blocked=True, blocked_reason=reason))
            self.ledger.set_state(group.name, self.deps.journal.group_state(group.name))
        if action.unready:
            self._recheck_readiness(action.group)  # "not ready" may be a stale answer
        # Cooldown text changes every second; a change of kind is what is news.
        if self._last_block.get(action.group) != action.code:
            self._last_block[action.group] = action.code
            metrics.record_decision(action.group, action.code)
            log.warning("failover blocked", extra={"group": action.group, "reason": action.reason})

    def _group(self, name: str) -> GroupConfig | None:
        return next((group for group in self.cfg.groups if group.name == name), None)
