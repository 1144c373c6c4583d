"""Decide: one snapshot of the world in, at most one action per group out. Pure.

Everything the leader knows at one instant (quorum verdicts, holders, the
journal, cooldowns, drill requests) arrives as data; the answer is data too,
with the reason that logs, metrics and history show.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from failover.config import GroupConfig
from failover.records import DrillRequest, FailoverRecord, GroupState


class Kind(enum.StrEnum):
    FAILOVER = "failover"  # automatic: the holder is down by quorum
    RESUME = "resume"  # finish a failover an earlier leader started
    DRILL = "drill"  # an operator's switchover request
    BLOCK = "block"  # a failover is wanted but not allowed now
    REJECT = "reject"  # a drill request that cannot be served
    RELEASE = "release"  # clean a returned former holder's OS (it becomes a standby)


@dataclass(frozen=True)
class GroupView:
    config: GroupConfig
    state: GroupState
    member_up: Mapping[str, bool | None]  # the quorum's verdict per member
    ready: Mapping[str, bool] = field(default_factory=dict)  # standby readiness; absent = unknown
    unfinished: FailoverRecord | None = None
    running: bool = False  # a failover of this group is executing right now
    # Former holders whose reverse script is running: never a target meanwhile (the script
    # would remove the addresses a failover just added), but they block nothing else.
    releasing: frozenset[str] = frozenset()
    paused: bool = False  # `failover pause`: no automatic failover; drills and resumes still run

    @property
    def name(self) -> str:
        return self.config.name


@dataclass(frozen=True)
class Snapshot:
    now: float
    groups: tuple[GroupView, ...]
    requests: tuple[DrillRequest, ...] = ()


@dataclass(frozen=True)
class Action:
    kind: Kind
    group: str
    reason: str
    from_instance: str | None = None
    to_instance: str | None = None
    record: FailoverRecord | None = None
    request: DrillRequest | None = None
    block_group: bool = False  # persist a flapping block until `failover ack`
    code: str = ""  # a short, stable label for metrics: cooldown, blocked, flapping, no_standby
    unready: tuple[str, ...] = ()  # no_standby: the standbys up by quorum but known not ready


def healthy_standbys(view: GroupView) -> list[str]:
    """Standbys in preference order that the quorum sees up and that are ready."""
    return [
        m for m in view.config.members
        if m != view.state.holder and m not in view.releasing
        and view.member_up.get(m) is True and view.ready.get(m, True)
    ]


def unready_standbys(view: GroupView) -> tuple[str, ...]:
    """Standbys the quorum sees up that readiness holds back (its answer may be stale)."""
    return tuple(
        m for m in view.config.members
        if m != view.state.holder and m not in view.releasing
        and view.member_up.get(m) is True and view.ready.get(m, True) is False
    )


def recent_failovers(state: GroupState, now: float, window_s: float) -> int:
    return sum(1 for t in state.recent_failovers if now - t <= window_s)


def decide(snapshot: Snapshot) -> list[Action]:
    actions: list[Action] = []
    requests_by_group: dict[str, list[DrillRequest]] = {}
    for r in snapshot.requests:
        requests_by_group.setdefault(r.group, []).append(r)
    known = {g.name for g in snapshot.groups}
    for r in snapshot.requests:
        if r.group not in known:
            actions.append(Action(Kind.REJECT, r.group, f"unknown group {r.group!r}", request=r))
    for view in snapshot.groups:
        action = _decide_group(view, snapshot.now, requests_by_group.get(view.name, []))
        if action is not None:
            actions.append(action)
    return actions


def _decide_group(view: GroupView, now: float, requests: list[DrillRequest]) -> Action | None:
    if view.running:
        return None
    if view.unfinished is not None:
        rec = view.unfinished
        return Action(
            Kind.RESUME, view.name, f"resuming failover {rec.id} left unfinished",
            rec.from_instance, rec.to_instance, record=rec,
        )
    if requests:
        return _drill(view, requests[0])
    holder = view.state.holder
    if holder is None:
        return _failover(view, now, None, "the ENI has no holder")
    if view.member_up.get(holder) is False:
        return _failover(view, now, holder, f"holder {holder} is down by quorum")
    for former in view.state.pending_release:
        if former != holder and former not in view.releasing and view.member_up.get(former) is True:
            return Action(
                Kind.RELEASE, view.name, f"former holder {former} is back: removing the ENI's addresses",
                from_instance=former,
            )
    return None


def _failover(view: GroupView, now: float, holder: str | None, why: str) -> Action:
    policy = view.config.policy
    state = view.state
    if view.paused:
        return Action(Kind.BLOCK, view.name, f"{why}, but automatic failover is paused; "
                      f"run `failover resume {view.name}`", holder, code="paused")
    if state.blocked:
        return Action(Kind.BLOCK, view.name, f"{why}, but the group is blocked ({state.blocked_reason}); "
                      f"run `failover ack {view.name}`", holder, code="blocked")
    if now < state.cooldown_until:
        left = state.cooldown_until - now
        return Action(Kind.BLOCK, view.name, f"{why}, but the group is in cooldown for {left:.0f} s more",
                      holder, code="cooldown")
    count = recent_failovers(state, now, policy.flap_window_s)
    if count >= policy.flap_max_failovers:
        reason = f"flapping: {count} failovers in {policy.flap_window_s:g} s"
        return Action(Kind.BLOCK, view.name, f"{why}, but {reason}; run `failover ack {view.name}`",
                      holder, block_group=True, code="flapping")
    standbys = healthy_standbys(view)
    if not standbys:
        return Action(Kind.BLOCK, view.name, f"{why}, but no standby is healthy and ready", holder,
                      code="no_standby", unready=unready_standbys(view))
    return Action(Kind.FAILOVER, view.name, f"{why}; moving to {standbys[0]}", holder, standbys[0])


def _drill(view: GroupView, request: DrillRequest) -> Action | None:
    """The drill, a rejection, or None: the request waits (unclaimed, until it expires) for
    a release of the standby it needs, which ends within the guest timeout: a drill back
    right after a drill is what an operator does, and refusing it for a cleanup they cannot
    see would be a surprise."""
    holder = view.state.holder
    target = request.to_instance
    if target is not None:
        if target not in view.config.members:
            return Action(Kind.REJECT, view.name, f"{target} is not a member of {view.name}", request=request)
        if target == holder:
            return Action(Kind.REJECT, view.name, f"{target} already holds the ENI", request=request)
        if view.member_up.get(target) is False:
            return Action(Kind.REJECT, view.name, f"{target} is down by quorum", request=request)
        if view.ready.get(target) is False:
            return Action(Kind.REJECT, view.name, f"{target} is not ready for the ENI", request=request)
        if target in view.releasing:
            return None
    else:
        standbys = healthy_standbys(view)
        if not standbys and any(view.member_up.get(m) is True for m in view.releasing):
            return None
        if not standbys:
            return Action(Kind.REJECT, view.name, "no standby is healthy and ready", request=request)
        target = standbys[0]
    # Drills bypass cooldown and flapping blocks: an operator asked for it.
    return Action(Kind.DRILL, view.name, f"drill requested by {request.requested_by or 'an operator'}",
                  holder, target, request=request)
