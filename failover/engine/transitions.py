"""What each outcome of a failover leaves in its group's state (pure): the ENI moved, the
group served, a record closed, a holder found not serving."""

from __future__ import annotations

from dataclasses import replace

from failover.config import GroupConfig
from failover.engine.decide import FAILURE_MEMORY_S, NOT_SERVING
from failover.model import Result, StepName, StepStatus, Trigger
from failover.records import FailoverRecord, GroupState, TargetFailure

# A failure in one of these steps is the target's: remembered against it (see decide).
TARGET_STEPS = (StepName.ATTACH, StepName.GUEST, StepName.VERIFY)


def moved(state: GroupState, holder: str) -> GroupState:
    """The ENI is on `holder`, not yet configured there; the holder the journal had keeps
    the ENI's addresses in its OS until it is released."""
    pending = state.pending_release
    if state.holder is not None and state.holder != holder and state.holder not in pending:
        pending = (*pending, state.holder)
    return replace(state, holder=holder, configured=None, configured_at=0.0,
                   pending_release=tuple(i for i in pending if i != holder))


def served(group: GroupConfig, state: GroupState, record: FailoverRecord, now: float) -> GroupState:
    """Served: the target holds the ENI with its guest step and verify done."""
    to = record.to_instance
    pending = state.pending_release
    if record.from_instance and record.from_instance not in pending:
        pending = (*pending, record.from_instance)
    # An adoption moved nothing: no cooldown after it (a failover may be needed at once).
    cooldown = state.cooldown_until if record.trigger is Trigger.ADOPT else now + group.policy.cooldown_s
    return replace(state, holder=to, configured=to, configured_at=now, cooldown_until=cooldown,
                   pending_release=tuple(i for i in pending if i != to))


def closed(group: GroupConfig, state: GroupState, record: FailoverRecord, now: float) -> GroupState:
    """What a finished record leaves in the group's state. An automatic move counts once
    for flapping, when its attach succeeded (the retries of one incident do not add up);
    a failure in a target's step is remembered against that target."""
    window = group.policy.flap_window_s
    recent = tuple(t for t in state.recent_failovers if now - t <= window)
    attach = record.step(StepName.ATTACH)
    if record.trigger is Trigger.AUTO and attach is not None and attach.status is StepStatus.OK:
        recent = (*recent, record.started_at)  # drills and adoptions do not count as flapping
    # A completed re-run on a holder that did not serve keeps that mark (see decide).
    keep = record.result is Result.COMPLETED and record.trigger is Trigger.ADOPT
    failures = tuple(f for f in state.target_failures if f.instance != record.to_instance
                     or (keep and f.error == NOT_SERVING))
    cooldown = state.cooldown_until
    failed = next((s for s in record.steps if s.status is StepStatus.FAILED), None)
    if record.result is Result.FAILED and failed is not None and failed.name in TARGET_STEPS:
        before = state.failures_of(record.to_instance)
        count = 1 if before is None or now - before.last_at > FAILURE_MEMORY_S else before.count + 1
        failures = (*failures, TargetFailure(record.to_instance, count, now,
                                             (failed.error or "")[:200]))
    elif record.result is Result.FAILED:
        # Not the target's fault (a detach, a fence): a short pause before an automatic
        # retry, so a fatal error cannot spin.
        cooldown = max(cooldown, now + min(group.policy.cooldown_s, 10.0))
    return replace(state, recent_failovers=recent, target_failures=failures,
                   cooldown_until=cooldown)


def not_serving(state: GroupState, instance: str, now: float) -> GroupState:
    """`instance` held the ENI but did not serve: noted before its guest step is re-run."""
    before = state.failures_of(instance)
    count = 1 if before is None else before.count + 1
    others = tuple(f for f in state.target_failures if f.instance != instance)
    return replace(state, target_failures=(*others, TargetFailure(instance, count, now, NOT_SERVING)))
