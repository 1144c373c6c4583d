"""Decide: one snapshot of the world in, at most one action per group out. Pure.

Everything the leader knows at one instant (the cloud's ENI, quorum verdicts,
the journal, cooldowns, drill requests) arrives as data; the answer is data too,
with the reason that logs, metrics and history show. Level-triggered: each tick
compares what the cloud shows with what the group needs (the ENI InUse on a
healthy, ready member whose guest step and verify succeeded) and acts on the
difference, whatever caused it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from failover.engine.actions import (
    Abandon,
    Action,
    Adopt,
    Block,
    Drill,
    Failover,
    Kind,
    Reject,
    Release,
    Resume,
)
from failover.engine.blocks import (
    Backoff,
    Blocked,
    Cooldown,
    EniUnknown,
    Flapping,
    ForeignHolder,
    Need,
    NoStandby,
    Paused,
)
from failover.engine.view import EniSeen, GroupView, why_unserved
from failover.model import EniStatus, StepName, Trigger
from failover.records import GOING_DOWN, DrillRequest, FailoverRecord, GroupState, TargetFailure

__all__ = ["Action", "GroupView", "Kind", "Snapshot", "decide", "decide_group", "decide_with",
           "healthy_standbys", "resume_waits_for_readiness", "revisit_at"]

# A failed attach, guest step or verify on a target: retried after a back-off that doubles,
# and after TARGET_TRIES failures in a row the next standby goes first. Forgotten after
# FAILURE_MEMORY_S (the member may have been repaired).
RETRY_BASE_S = 2.0
RETRY_MAX_S = 60.0
TARGET_TRIES = 2
FAILURE_MEMORY_S = 300.0
# The failure recorded against a holder that is up but not serving, when its guest step is
# re-run: kept after that re-run completes, so a holder that still does not serve is left.
NOT_SERVING = "not serving through the service IPs"


@dataclass(frozen=True)
class Snapshot:
    now: float
    groups: tuple[GroupView, ...]
    requests: tuple[DrillRequest, ...] = ()


def healthy_standbys(view: GroupView) -> list[str]:
    """Standbys (members but the ENI's real holder) in preference order that the quorum sees
    up and that are ready."""
    return [
        m for m in view.config.members
        if m != view.holder and m not in view.releasing
        and view.member_up.get(m) is True and view.ready.get(m, True)
    ]


def unready_standbys(view: GroupView) -> tuple[str, ...]:
    """Standbys the quorum sees up that readiness holds back (its answer may be stale)."""
    return tuple(
        m for m in view.config.members
        if m != view.holder and m not in view.releasing
        and view.member_up.get(m) is True and view.ready.get(m, True) is False
    )


def recent_failure(state: GroupState, member: str, now: float) -> TargetFailure | None:
    failure = state.failures_of(member)
    return failure if failure is not None and now - failure.last_at <= FAILURE_MEMORY_S else None


def retry_at(failure: TargetFailure) -> float:
    return failure.last_at + min(RETRY_BASE_S * 2.0 ** (failure.count - 1), RETRY_MAX_S)


def target_order(view: GroupView, now: float, members: list[str]) -> list[str]:
    """`members` in the order to try them: fewer than TARGET_TRIES recent failures first (in
    preference order), then the others, the longest-failed first."""
    def tries(m: str) -> int:
        failure = recent_failure(view.state, m, now)
        return 0 if failure is None else failure.count
    def last(m: str) -> float:
        failure = recent_failure(view.state, m, now)
        return 0.0 if failure is None else failure.last_at
    fresh = [m for m in members if tries(m) < TARGET_TRIES]
    tired = sorted((m for m in members if m not in fresh), key=last)
    return fresh + tired


def _pick(view: GroupView, now: float, members: list[str]) -> str | Backoff | None:
    """The target to try now, the back-off that holds it back, or None: nobody to try."""
    ordered = target_order(view, now, members)
    if not ordered:
        return None
    first = ordered[0]
    failure = recent_failure(view.state, first, now)
    if failure is not None and now < retry_at(failure):
        return _backoff(failure, now)
    return first


def _backoff(failure: TargetFailure, now: float) -> Backoff:
    return Backoff(failure.instance, failure.count, failure.error, retry_at(failure) - now)


def recent_failovers(state: GroupState, now: float, window_s: float) -> int:
    return sum(1 for t in state.recent_failovers if now - t <= window_s)


OneGroup = Callable[[GroupView, float, list[DrillRequest]], Action | None]


def decide(snapshot: Snapshot) -> list[Action]:
    return decide_with(snapshot, decide_group)


def decide_with(snapshot: Snapshot, one: OneGroup) -> list[Action]:
    """`decide` with each group's answer from `one` (`decide_group`, or a memo of it)."""
    actions: list[Action] = []
    requests_by_group: dict[str, list[DrillRequest]] = {}
    for request in snapshot.requests:
        requests_by_group.setdefault(request.group, []).append(request)
    known = {g.name for g in snapshot.groups}
    for request in snapshot.requests:
        if request.group not in known:
            actions.append(Reject(request.group, f"unknown group {request.group!r}", request))
    for view in snapshot.groups:
        action = one(view, snapshot.now, requests_by_group.get(view.name, []))
        if action is not None:
            actions.append(action)
    return actions


def revisit_at(view: GroupView, now: float) -> float:
    """The first time at or after `now` (wall clock) when `decide_group` on the same view and
    requests may answer differently; inf: never. Every instant a rule compares `now` with
    (cooldown, flap window, failure memory, back-off, settle, the serving round) is listed,
    whether or not it matters for this view's answer: early costs one more decision, late
    would be a missed failover. Each comparison flips once as time goes forward."""
    state, h = view.state, view.config.health
    times = [state.cooldown_until]
    times += (t + view.config.policy.flap_window_s for t in state.recent_failovers)
    for failure in state.target_failures:
        retry = retry_at(failure)
        times += (failure.last_at + FAILURE_MEMORY_S, retry, retry + (h.fall + h.rise) * h.interval_s)
    if view.serving_since is not None:
        times.append(view.serving_since + h.interval_s)
    return min((t for t in times if t >= now), default=float("inf"))


def decide_group(view: GroupView, now: float, requests: list[DrillRequest]) -> Action | None:
    """One group's answer (at most one action); `decide` is this for every group."""
    if view.running:
        return None
    if view.unfinished is not None:
        return _resume(view, view.unfinished)
    eni = view.eni
    if eni is None:
        return None  # no read of the ENI since our last move: wait for the next one
    if eni.status is None:  # the drill requests wait (until they expire) for a readable ENI
        return Block(view.name, EniUnknown(eni.error))
    if view.foreign and view.holder is not None:
        if requests:
            return Reject(view.name, why_unserved(view), requests[0])
        return Block(view.name, ForeignHolder(view.holder))
    if requests:
        return _drill(view, requests[0])
    action = _reconcile(view, eni, now)
    if view.paused and isinstance(action, (Failover, Adopt)):
        # `failover pause`: the operator's hands only (drills, and resuming what had begun).
        return Block(view.name, Paused(), wanted=action.reason)
    return action


def _reconcile(view: GroupView, eni: EniSeen, now: float) -> Action | None:
    """What the cloud (`eni`, the view's read) and the probes ask for, with no operator request
    in the way."""
    holder = view.holder
    if eni.status is EniStatus.AVAILABLE:
        return _repair(view, now)
    if holder is None:
        return None  # Deleting: nothing to move
    if view.member_up.get(holder) is False:
        cause = f": {GOING_DOWN}" if holder in view.going_down else ""
        return _failover(view, now, holder, f"holder {holder} is down by quorum{cause}")
    if eni.status is not EniStatus.IN_USE:
        return None  # a move in flight outside the controller: the next read shows where it lands
    if view.state.configured != holder:
        return _configure(view, now, holder)
    if view.serving is False:
        return _not_serving(view, now, holder)
    for former in view.state.pending_release:
        if former != holder and former not in view.releasing and view.member_up.get(former) is True:
            return Release(view.name, f"former holder {former} is back: removing the ENI's addresses",
                           former)
    return None


def _not_serving(view: GroupView, now: float, holder: str) -> Action | None:
    """Up by its own address, but the service does not answer through the service IPs (by a
    quorum of replicas, each after `fall` rounds): its guest step is re-run once; if it still
    does not serve once the checks had time to see it again, the ENI moves on."""
    failure = recent_failure(view.state, holder, now)
    why = f"the holder {holder} is up but does not serve through the service IPs"
    health = view.config.health
    if view.serving_since is not None and now - view.serving_since < health.interval_s:
        # One more round first: a crashed holder fails its own checks in the same rounds, and
        # its "down" verdict must win (a failover, not a guest step on a dead instance).
        return None
    if failure is None:
        return Adopt(view.name, f"{why}; re-running its guest step and verify", holder, holder,
                     not_serving=True)
    settle = retry_at(failure) + (health.fall + health.rise) * health.interval_s
    if now < settle:
        return None  # the serving checks need these rounds to see the re-run's outcome
    return _failover(view, now, holder, f"{why}, even after its guest step was re-run", unserved=True)


def resume_waits_for_readiness(view: GroupView) -> bool:
    """The unfinished record's target is "not ready" by an answer read before this leader took
    office: the cloud is the source of truth, so it is read again (the loop asks) before the
    record is abandoned on that answer. An instance force-stopped and started again since reads
    "not ready" until the slow readiness round comes back to it."""
    rec = view.unfinished
    return (rec is not None and view.ready_stale and view.member_up.get(rec.to_instance) is not False
            and view.ready.get(rec.to_instance) is False)


def _resume(view: GroupView, rec: FailoverRecord) -> Action | None:
    """Resume, unless the target went away before the attach started: then nothing is
    half-done, and the group is better decided afresh than attached to a dead instance.
    Whether it started is the cloud's word once the journal shows the attach step: a leader
    writes the step before its call, which the cloud may refuse (the ENI stays Available)."""
    target = rec.to_instance
    why = ("down by quorum" if view.member_up.get(target) is False
           else "not ready for the ENI" if view.ready.get(target) is False else "")
    if why and rec.trigger is not Trigger.ADOPT:
        if rec.step(StepName.ATTACH) is None:
            unstarted = "its attach had not started"
        elif view.eni is None or view.eni.status is None:
            return None  # whether the attach landed is the cloud's to say: wait for a read
        elif view.eni.status is EniStatus.AVAILABLE:
            unstarted = "the ENI is Available: its attach had not started"
        else:
            unstarted = ""  # the attach landed: finishing it is what is left
        if unstarted and resume_waits_for_readiness(view):
            return None  # a "not ready" from before our office: wait for the re-read
        if unstarted:
            return Abandon(view.name, f"abandoning {rec.id}: its target {target} is {why} and "
                           f"{unstarted}", rec)
    return Resume(view.name, f"resuming failover {rec.id} left unfinished", rec)


def _repair(view: GroupView, now: float) -> Failover | Block:
    """The ENI is Available with no step in flight (a failed attach, a detach by hand):
    attach it to the best healthy, ready member. Nothing serves, so neither cooldown nor a
    flapping block holds this back; moving nothing away, it fences nobody."""
    members = [m for m in view.config.members if m not in view.releasing
               and view.member_up.get(m) is True and view.ready.get(m, True)]
    target = _pick(view, now, members)
    if isinstance(target, Backoff):
        return Block(view.name, target, Need.REPAIR)
    if target is None:
        return Block(view.name, NoStandby(unready_standbys(view)), Need.REPAIR)
    rollback = " (a rollback to the former holder)" if target == view.state.holder else ""
    return Failover(view.name,
                    f"the ENI is Available with no step in flight; attaching it to {target}{rollback}",
                    None, target)


def _configure(view: GroupView, now: float, holder: str) -> Failover | Adopt | Block:
    """The ENI is InUse on a member that is up, but its guest step and verify have not
    succeeded there: adopt it (run them), after a back-off if they failed, or move on."""
    failure = recent_failure(view.state, holder, now)
    if failure is not None and failure.count >= TARGET_TRIES:
        return _failover(view, now, holder, f"the guest step or verify failed {failure.count} times on the "
                         f"holder {holder} ({failure.error or 'no detail'})", unserved=True)
    if failure is not None and now < retry_at(failure):
        return Block(view.name, _backoff(failure, now), Need.CONFIGURE)
    recorded = view.state.holder
    if recorded != holder:
        why = (f"the ENI was moved outside the controller: the cloud shows it InUse on {holder}, "
               f"the journal had {recorded or 'no holder'}; adopting {holder}")
    else:
        why = f"the guest step and verify have not succeeded on the holder {holder}; running them"
    return Adopt(view.name, why, recorded, holder)


def _failover(view: GroupView, now: float, holder: str | None, why: str,
              unserved: bool = False) -> Failover | Block:
    """Away from `holder`. `unserved`: the holder is up but cannot serve; moving can only help,
    so cooldown and flapping blocks do not hold it back (the per-target back-off paces it)."""
    policy = view.config.policy
    state = view.state
    standbys = target_order(view, now, healthy_standbys(view))
    if unserved:
        return _moved_to(view, now, holder, why, standbys)
    if state.blocked:
        return Block(view.name, Blocked(state.blocked_reason), wanted=why)
    if now < state.cooldown_until:
        return Block(view.name, Cooldown(state.cooldown_until - now), wanted=why)
    count = recent_failovers(state, now, policy.flap_window_s)
    if count >= policy.flap_max_failovers:
        return Block(view.name, Flapping(count, policy.flap_window_s), wanted=why)
    return _moved_to(view, now, holder, why, standbys)


def _moved_to(view: GroupView, now: float, holder: str | None, why: str,
              standbys: list[str]) -> Failover | Block:
    target = _pick(view, now, standbys)
    if target is None:
        return Block(view.name, NoStandby(unready_standbys(view)), wanted=why)
    if isinstance(target, Backoff):
        return Block(view.name, target, wanted=why)
    return Failover(view.name, f"{why}; moving to {target}", holder, target)


def _drill(view: GroupView, request: DrillRequest) -> Drill | Reject | None:
    """The drill, a rejection, or None: the request waits (unclaimed, until it expires) for
    a release of the standby it needs, which ends within the guest timeout: a drill back
    right after a drill is what an operator does, and refusing it for a cleanup they cannot
    see would be a surprise."""
    holder = view.holder
    target = request.to_instance
    if target is not None:
        if target not in view.config.members:
            return Reject(view.name, f"{target} is not a member of {view.name}", request)
        if target == holder:
            return Reject(view.name, f"{target} already holds the ENI", request)
        if view.member_up.get(target) is False:
            return Reject(view.name, f"{target} is down by quorum", request)
        if view.ready.get(target) is False:
            return Reject(view.name, f"{target} is not ready for the ENI", request)
        if target in view.releasing:
            return None
    else:
        standbys = healthy_standbys(view)
        if not standbys and any(view.member_up.get(m) is True for m in view.releasing):
            return None
        if not standbys:
            return Reject(view.name, "no standby is healthy and ready", request)
        target = standbys[0]
    # Drills bypass cooldown and flapping blocks: an operator asked for it.
    return Drill(view.name, f"drill requested by {request.requested_by or 'an operator'}",
                 holder, target, request)
