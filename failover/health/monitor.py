"""The health monitor: APScheduler rounds, probes on the asyncio loop, verdicts out.

The jobs come from `jobs.plan_jobs`: shards of a few hundred direct probes
spread over the interval, plus one batched ecs_status job per interval.
Each fire is a round that probes its checks at once on the asyncio loop and
then, per member, updates hysteresis, publishes the verdict through the
`VerdictSink` (every round) and the metrics, and keeps it in memory for
/status and for the engine's choice of a standby.

`max_instances=1` with coalescing means a slow round is never stacked: fires
that come while it runs are dropped and counted in
`failover_health_rounds_missed_total`, as are fires the scheduler itself
was too late for.

A round that overruns its deadline (a replica starved of CPU) is abandoned but keeps the
probes that finished; the others are no evidence this round, never failures. Each vote
carries its own member's evidence time (`at`: the member's newest check outcome; for a
"down", its newest down check's), so the leader stops counting a member this replica no
longer probes while its neighbours' fresh votes keep counting
(coordination/rounds.py). The earlier rule, the group's oldest evidence, withdrew every vote
of the replica on a whole group for one slow member (reverted, notes/issue-23b.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from failover import metrics, quorum
from failover.config import GroupConfig
from failover.health.evaluate import (
    MemberHealth,
    StateKey,
    aged,
    apply_results,
    check_keys,
    evidence_time,
    going_down_results,
    grid_start,
    held_down,
    member_health,
    missed_rounds,
)
from failover.health.hysteresis import UNKNOWN, CheckState, member_reason, member_up
from failover.health.jobs import DEFAULT_MAX_PROBES, RoundJob, plan_jobs, round_cadence_s
from failover.health.loop import ProbeLoop
from failover.health.plan import EcsTarget, Holder, ProbeSpec, Skipped, plan_round, plan_serving
from failover.health.probes import ProbeResult, StatusFetcher, probe_all
from failover.health.trigger import SteadyJitterTrigger
from failover.model import Priority, ProbeOutcome
from failover.ports import InstanceStatusReader, VerdictSink
from failover.records import GOING_DOWN, SERVING_PREFIX, Observation

log = logging.getLogger(__name__)

# The round runner: (specs, status fetcher, finished so far, deadline) -> the round's results;
# raises TimeoutError past the deadline (`finished` then holds what did finish).
RunProbes = Callable[[Sequence[ProbeSpec], StatusFetcher | None, list[ProbeResult], float],
                     list[ProbeResult]]

_ROUND_GRACE_S = 2.0  # beyond the longest probe timeout, before a round is abandoned


@dataclass(frozen=True)
class RoundReport:
    job_id: str
    started_at: float  # wall clock
    finished_at: float
    probe_starts: tuple[float, ...]  # wall clock, one per probe
    probes: int
    failures: int
    scheduled_at: float | None = None  # filled in from the scheduler's event
    missed_before: int = 0  # fires skipped since the previous round of this job


class HealthMonitor:
    def __init__(
        self,
        groups: Sequence[GroupConfig],
        *,
        controller_id: str,
        addresses: Callable[[], Mapping[str, str]],
        sink: VerdictSink,
        cloud: InstanceStatusReader | None = None,
        on_round: Callable[[RoundReport], None] | None = None,
        max_probes_per_job: int = DEFAULT_MAX_PROBES,
        missing: Callable[[], Collection[str]] | None = None,
        holders: Callable[[], Mapping[str, Holder | None]] | None = None,
        clock: Callable[[], float] = time.time,
        run_probes: RunProbes | None = None,
    ) -> None:
        self._controller_id = controller_id
        self._addresses = addresses
        # Members DescribeInstances no longer lists (released, deleted): a check that needs
        # their address fails each round instead of giving no evidence, so a gone member
        # turns down after `fall` rounds instead of keeping its last "up" vote forever.
        self._missing = missing or frozenset
        # group -> the ENI's holder and IPs as this replica last read them: the serving signal
        # probes the group's `{ip}` checks through the service IPs there (plan.plan_serving).
        self._holders = holders
        self._sink = sink
        self._cloud = cloud
        self._on_round = on_round
        self._jobs = {j.job_id: j for j in plan_jobs(groups, max_probes_per_job)}
        self._thresholds = {g.name: (g.health.fall, g.health.rise) for g in groups}
        # How long a verdict stands without new evidence: the same rule that stops its vote counting.
        self._max_age = {g.name: quorum.vote_max_age(round_cadence_s(g)) for g in groups}
        self._check_keys = {g.name: check_keys(g) for g in groups}
        self._order = [g.name for g in groups]
        self._states: dict[StateKey, CheckState] = {}
        self._health: dict[str, dict[str, MemberHealth]] = {g.name: {} for g in groups}
        self._clock = clock  # wall time: the evidence times votes carry
        self._check_at: dict[StateKey, float] = {}  # each check's last outcome
        self._lock = threading.Lock()
        self._plans: dict[str, tuple[Mapping[str, str], list[ProbeSpec], list[Skipped]]] = {}
        self._serving_plans: dict[str, tuple[dict[str, Holder | None], list[ProbeSpec]]] = {}
        self._loop = ProbeLoop()
        self._run_probes = run_probes or self._on_loop
        self._scheduler: BackgroundScheduler | None = None
        self._last_scheduled: dict[str, float] = {}
        self._missed_pending: dict[str, int] = defaultdict(int)
        self._groups = list(groups)
        self._held: dict[str, float] = {}  # instance -> until (monotonic): its stop notice holds
        self.rounds_run = 0
        self.rounds_missed = 0

    # ------------------------------------------------------------ lifecycle

    def start(self, *, scheduled: bool = True) -> None:
        """Start the probe loop and, unless `scheduled` is False, the rounds.

        Unscheduled, rounds run only when `run_round` is called (tests, tools).
        """
        self._loop.start()
        if not scheduled:
            return
        scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=len(self._jobs) + 1)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        scheduler.add_listener(
            self._on_event,
            EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES,
        )
        # Every replica on the same wall-clock grid (see grid_start), the shards
        # spread over the interval, every fire delayed by up to jitter_s more.
        now = time.time()
        for job_id, j in self._jobs.items():
            start = datetime.fromtimestamp(grid_start(now, j.interval_s, j.phase_s), UTC)
            scheduler.add_job(
                self.run_round,
                SteadyJitterTrigger(seconds=j.interval_s, jitter_s=j.jitter_s, start_date=start),
                args=[job_id],
                id=job_id,
                misfire_grace_time=max(1, round(j.interval_s)),
            )
        scheduler.start()
        self._scheduler = scheduler

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        self._loop.stop()

    # ---------------------------------------------------------------- rounds

    def run_round(self, job_id: str) -> RoundReport:
        """One round of one job (the scheduler's job; tests call it directly)."""
        job = self._jobs[job_id]
        started = time.time()
        specs, skipped = self._plan(job)  # _plan logs what it could not probe, once per plan
        if self._holders is not None and job.kind == "probes":
            specs = [*specs, *self._plan_serving(job, self._holders())]
        gone = set(self._missing())
        longest = max((s.timeout_s for s in specs), default=0.0)
        finished: list[ProbeResult] = []
        try:
            results = self._run_probes(specs, self._fetcher(), finished, longest + _ROUND_GRACE_S)
        except TimeoutError:
            results = list(finished)  # the rest: no evidence this round, never a failure
            log.error("probe round abandoned: it overran its deadline (%d of %d probes finished)",
                      len(results), len(specs), extra={"job": job_id})
            # A missed round, where the alert on missed rounds sees it (a replica starved of
            # CPU otherwise kept its old verdicts with no sign but logs).
            self._count_missed(1)
        results = [*results, *self._gone_results(skipped, gone, started)]
        held = self._held_now()
        if held:
            results = [replace(r, outcome=held_down(r.outcome, r.spec.instance in held, GOING_DOWN))
                       for r in results]
        for r in results:
            if r.outcome is not None:
                metrics.record_probe(r.spec.kind, r.spec.group, r.outcome.duration_s, r.outcome.ok,
                                     r.outcome.reason)
        self._fold(job.groups, results)
        self.rounds_run += 1
        return RoundReport(
            job_id=job_id,
            started_at=started,
            finished_at=time.time(),
            probe_starts=tuple(r.started_at for r in results),
            probes=len(results),
            failures=sum(1 for r in results if r.outcome is not None and not r.outcome.ok),
        )

    def _on_loop(self, specs: Sequence[ProbeSpec], fetch: StatusFetcher | None,
                  finished: list[ProbeResult], deadline_s: float) -> list[ProbeResult]:
        return self._loop.run(probe_all(specs, fetch, finished), deadline_s)

    @staticmethod
    def _gone_results(skipped: Sequence[Skipped], gone: set[str], at: float) -> list[ProbeResult]:
        return [
            ProbeResult(ProbeSpec(s.group, s.instance, s.key, s.kind, 0.0, EcsTarget(s.instance)),
                        ProbeOutcome(False, "not listed by DescribeInstances"), at)
            for s in skipped if s.instance in gone
        ]

    def going_down(self, instance: str) -> None:
        """The member said it is going down (health/notice.py checked it): its checks fail
        definitively now, and stay failed for as long as its probes would have needed to see
        it down (`fall` rounds): a draining service answering a moment longer must not bring it
        back; a member that is back later is judged by its probes again. Its verdicts are
        published at once."""
        hold_s = max((g.health.fall * g.health.interval_s for g in self._groups
                      if instance in g.members), default=0.0)
        with self._lock:
            self._held[instance] = time.monotonic() + hold_s
        now = time.time()
        results = [ProbeResult(ProbeSpec(g, m, k, "notice", 0.0, EcsTarget(m)), outcome, now)
                   for (g, m, k), outcome in going_down_results(self._groups, instance, GOING_DOWN)]
        groups = {r.spec.group for r in results}
        self._fold([g for g in self._groups if g.name in groups], results)

    def _held_now(self) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            self._held = {m: until for m, until in self._held.items() if until > now}
            return frozenset(self._held)

    def _plan(self, job: RoundJob) -> tuple[list[ProbeSpec], list[Skipped]]:
        """The job's probes, re-planned only when the members' addresses change."""
        addresses = dict(self._addresses())
        cached = self._plans.get(job.job_id)
        if cached is not None and cached[0] == addresses:
            return cached[1], cached[2]
        ecs = job.kind == "ecs_status"
        specs, skipped = plan_round(job.groups, addresses)
        specs = [s for s in specs if (s.kind == "ecs_status") is ecs]
        skipped = [s for s in skipped if (s.kind == "ecs_status") is ecs]
        self._plans[job.job_id] = (addresses, specs, skipped)
        if skipped:
            # Once per new plan, not per round: 2,000 members without an address yet were
            # 33,000 log lines in 80 s.
            first = skipped[0]
            log.warning("checks not probed: %d (%s), e.g. %s of %s", len(skipped), first.reason,
                        first.instance, first.group, extra={"job": job.job_id})
        return specs, skipped

    def _plan_serving(self, job: RoundJob, holders: Mapping[str, Holder | None]) -> list[ProbeSpec]:
        """The job's serving probes, planned again only when its groups' holders change."""
        mine = {g.name: holders.get(g.name) for g in job.groups}
        cached = self._serving_plans.get(job.job_id)
        if cached is not None and cached[0] == mine:
            return cached[1]
        specs = plan_serving(job.groups, mine)
        self._serving_plans[job.job_id] = (mine, specs)
        return specs

    def _fetcher(self) -> StatusFetcher | None:
        cloud = self._cloud
        if cloud is None:
            return None
        return lambda ids: cloud.instance_statuses(ids, priority=Priority.ROUTINE)

    def _fold(self, groups: Sequence[GroupConfig], results: Sequence[ProbeResult]) -> None:
        pairs = [((r.spec.group, r.spec.instance, r.spec.key), r.outcome) for r in results]
        with self._lock:
            self._states = apply_results(self._states, pairs, self._thresholds)
            verdicts = member_health(groups, self._states, self._check_keys) + self._serving(results)
            changed = set()
            for v in verdicts:
                before = self._health[v.group].get(v.instance)
                if before is None or before.up is not v.up:
                    changed.add((v.group, v.instance))
                self._health[v.group][v.instance] = v
            now = self._clock()
            for r in results:
                if r.outcome is not None:
                    self._check_at[(r.spec.group, r.spec.instance, r.spec.key)] = now
            times = {(v.group, v.instance): evidence_time(v, self._check_at, now) for v in verdicts}
        for v in verdicts:
            if v.up is None:
                continue  # no vote until the checks have decided
            if (v.group, v.instance) in changed and not v.instance.startswith(SERVING_PREFIX):
                metrics.set_health(v.group, v.instance, v.up)
            # Every round: the sink (Observations.publish) writes only on change.
            try:
                # `at`: the time of the evidence behind the vote, which advances only with
                # evidence, so a member this replica stopped probing stops counting (`rounds`).
                self._sink(Observation(self._controller_id, v.group, v.instance, v.up,
                                       times[(v.group, v.instance)], v.reason))
            except Exception:  # the sink's trouble (ZooKeeper away) must not stop the checks
                log.exception("publishing a verdict failed", extra={"group": v.group})

    def _serving(self, results: Sequence[ProbeResult]) -> list[MemberHealth]:
        """The serving verdicts of this round's serving probes (caller holds the lock)."""
        keys: dict[tuple[str, str], list[str]] = defaultdict(list)
        for r in results:
            if r.spec.instance.startswith(SERVING_PREFIX):
                keys[(r.spec.group, r.spec.instance)].append(r.spec.key)
        out = []
        for (group, pseudo), ks in keys.items():
            checks = tuple((k, self._states.get((group, pseudo, k), UNKNOWN)) for k in ks)
            out.append(MemberHealth(group, pseudo, member_up(s for _, s in checks),
                                    member_reason(checks), checks))
        return out

    # ------------------------------------------------------ scheduler events

    def _on_event(self, event: Any) -> None:
        job_id = getattr(event, "job_id", "")
        job = self._jobs.get(job_id)
        if job is None:
            return
        if event.code in (EVENT_JOB_MISSED, EVENT_JOB_MAX_INSTANCES):
            self._missed_pending[job_id] += 1
            self._count_missed(1)
            return
        assert isinstance(event, JobExecutionEvent)
        scheduled = event.scheduled_run_time.timestamp()
        previous = self._last_scheduled.get(job_id)
        self._last_scheduled[job_id] = scheduled
        already = self._missed_pending.pop(job_id, 0)
        missed = already
        if previous is not None:
            # Fires the scheduler coalesced away leave no event, only a gap.
            missed = max(already, missed_rounds(scheduled - previous, job.interval_s))
            self._count_missed(missed - already)
        if event.code == EVENT_JOB_ERROR:
            log.error("probe round failed: %r", event.exception, extra={"job": job_id})
            self._count_missed(1)
            return
        report = event.retval
        if isinstance(report, RoundReport):
            metrics.record_probe_lags(s - scheduled for s in report.probe_starts)
        if self._on_round is not None and isinstance(report, RoundReport):
            self._on_round(replace(report, scheduled_at=scheduled, missed_before=missed))

    def _count_missed(self, n: int) -> None:
        if n > 0:
            self.rounds_missed += n
            metrics.record_rounds_missed(n)

    # ------------------------------------------------------------- read side

    @property
    def job_ids(self) -> tuple[str, ...]:
        return tuple(self._jobs)

    def verdicts(self) -> dict[str, dict[str, MemberHealth]]:
        """group -> instance -> this replica's latest verdict (for /status). A verdict no check
        has renewed for longer than a vote counts (`quorum.vote_max_age`: rounds abandoned,
        a starved member) is shown undecided, as the leader stops counting its vote: /status
        never shows an "up" or "down" this replica no longer has evidence for."""
        now = self._clock()
        with self._lock:
            return {g: {m: aged(v, evidence_time(v, self._check_at, now), now, self._max_age[g])
                        for m, v in members.items()}
                    for g, members in self._health.items()}

    def member_up(self, group: str, instance: str) -> bool | None:
        with self._lock:
            v = self._health.get(group, {}).get(instance)
        return None if v is None else v.up
