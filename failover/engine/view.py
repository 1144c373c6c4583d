"""One group's view: what the cloud shows of its ENI, what the quorum says of its members,
and what the journal remembers, put together by one builder.

The engine decides on it, `status` and `/status` report from it, and `drill --dry-run` runs
`decide()` on it: all three see the same group. The ENI's holder is the cloud's (its status
and real holder from the last batched read), never the journal's: a move made outside the
controller shows here at the next read. Pure.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from failover import quorum
from failover.config import GroupConfig
from failover.model import EniState, EniStatus
from failover.records import GOING_DOWN, FailoverRecord, GroupState, Observation, serving_key

# A follower reads the ENI this often (engine/observe.py): until its read shows a new holder,
# its serving votes about that holder are whatever it last said of it, maybe long ago.
FOLLOWER_INTERVAL_S = 5.0

# The statuses under which the ENI belongs to an instance (Detaching: still, until it lets go).
HELD = (EniStatus.IN_USE, EniStatus.ATTACHING, EniStatus.DETACHING)


@dataclass(frozen=True)
class EniSeen:
    """The group's ENI as one read showed it; `status` None: the read did not say (`error`)."""

    status: EniStatus | None
    instance: str | None = None
    at: float = 0.0  # monotonic: when the read that saw this started
    error: str = ""
    ips: tuple[str, ...] = ()  # the ENI's private IPs, primary first

    @classmethod
    def of(cls, eni: EniState | None, at: float, error: str = "") -> EniSeen:
        if eni is None:
            return cls(None, None, at, error or "the ENI was not found")
        if eni.status is EniStatus.UNKNOWN:
            return cls(None, eni.instance_id, at, "the cloud reported a status this controller "
                                                  "does not know")
        return cls(eni.status, eni.instance_id if eni.status in HELD else None, at,
                   ips=eni.private_ips)


class Health(enum.StrEnum):
    """A group's state in `status`, `/status` and `failover_group_state` (DESIGN.md)."""

    HEALTHY = "healthy"  # served, a standby ready
    DEGRADED = "degraded"  # served, no standby ready
    UNSERVED = "unserved"  # the ENI is not InUse on a member whose guest step and verify passed
    DOWN = "down"  # the ENI's holder is down by quorum
    FAILING_OVER = "failing_over"
    BLOCKED = "blocked"  # served, but automatic failover is blocked until `failover ack`
    PAUSED = "paused"  # served, but automatic failover is paused until `failover resume`
    UNKNOWN = "unknown"  # the ENI could not be read: nothing is claimed
    CORRUPT = "corrupt"


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
    # The cloud's ENI; None: no read since this controller last acted on the group (a read
    # from before a move would show the world the move changed): decide waits for the next.
    eni: EniSeen | None = None
    # The replicas' quorum on whether the holder serves through the service IPs (the serving
    # signal); None: not known (no service IPs, no `{ip}` check, too few votes yet).
    serving: bool | None = None
    # When the serving quorum turned False (wall clock: the latest of the "no" votes' times).
    serving_since: float | None = None
    paused: bool = False  # `failover pause`: no automatic move; drills and resumes still run
    # The readiness answers were read before this leader took office: a "not ready" may be old
    # news (an instance force-stopped then started again reads "not ready" until the next round).
    ready_stale: bool = False
    # Members a "down" vote says are going down by their own word (a stop notice): the cause
    # the failover's reason carries to the journal.
    going_down: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def holder(self) -> str | None:
        """The instance the cloud shows holding the ENI (None: Available, or not known)."""
        return self.eni.instance if self.eni is not None else None

    @property
    def foreign(self) -> bool:
        """The ENI is on an instance that is not a member: only an operator may take it off."""
        return self.holder is not None and self.holder not in self.config.members

    @property
    def served(self) -> bool:
        """The ENI InUse on a member, not down by quorum, whose guest step and verify passed."""
        eni = self.eni
        return (eni is not None and eni.status is EniStatus.IN_USE and eni.instance is not None
                and not self.foreign and eni.instance == self.state.configured
                and self.member_up.get(eni.instance) is not False and self.serving is not False)


def member_verdicts(group: GroupConfig, observations: Mapping[str, Mapping[str, Observation]],
                    live: int) -> dict[str, bool | None]:
    """The quorum's verdict on each member from the replicas' published observations."""
    out: dict[str, bool | None] = {}
    for member in group.members:
        votes = {ctl: o.up for ctl, o in observations.get(member, {}).items()}
        out[member] = quorum.quorum_verdict(votes, live, group.health.quorum)
    return out


def build_view(group: GroupConfig, state: GroupState,
               observations: Mapping[str, Mapping[str, Observation]], live: int, *,
               eni: EniSeen | None, ready: Mapping[str, bool] | None = None,
               unfinished: FailoverRecord | None = None, running: bool = False,
               releasing: frozenset[str] = frozenset(), paused: bool = False,
               now: float | None = None, ready_stale: bool = False) -> GroupView:
    """The one builder of a group's view (the engine, `status` and `drill --dry-run`).
    `now` (wall clock): when given, "no" serving votes older than the holder's last verify
    are weighed as `serving_votes` says; without it every vote counts."""
    serving, since = None, None
    if eni is not None and eni.instance is not None:
        seen = serving_votes(group, state, eni.instance,
                             observations.get(serving_key(eni.instance), {}), now)
        serving = quorum.quorum_verdict({ctl: o.up for ctl, o in seen.items()}, live,
                                        group.health.quorum)
        if serving is False:
            since = max(o.at for o in seen.values() if not o.up)
    return GroupView(group, state, member_verdicts(group, observations, live), dict(ready or {}),
                     unfinished, running, releasing, eni, serving, since, paused, ready_stale,
                     going_down(group, observations))


def going_down(group: GroupConfig,
               observations: Mapping[str, Mapping[str, Observation]]) -> frozenset[str]:
    """Members with a "down" vote that gives the member's own stop notice as its reason."""
    return frozenset(m for m in group.members
                     if any(not o.up and GOING_DOWN in o.reason for o in observations.get(m, {}).values()))


def serving_votes(group: GroupConfig, state: GroupState, holder: str,
                  votes: Mapping[str, Observation], now: float | None) -> Mapping[str, Observation]:
    """The serving votes about `holder` that count now. A "no" must have been reached by
    `fall` rounds all after the holder's last guest step and verify succeeded: one reached
    before speaks of the holder while the ENI and its addresses were still moving (or, from a
    follower whose read still showed the old holder, of an older time), and acting on it
    re-ran a guest step the verify had just proved, then moved a serving holder away. Such a
    stale "no" (a vote is rewritten only when it changes) counts again once every replica has
    had time to read the new holder and its checks time to rise: one still standing then
    means they never rose."""
    h = group.health
    if now is None or state.configured != holder or not state.configured_at:
        return votes
    if now >= serving_window_end(group, state):
        return votes
    fresh_from = state.configured_at + h.fall * h.interval_s
    return {ctl: o for ctl, o in votes.items() if o.up or o.at >= fresh_from}


def serving_window_end(group: GroupConfig, state: GroupState) -> float:
    """When (wall clock) every serving vote about the configured holder counts again: until
    then `serving_votes` weighs a "no" by its time (a view built before it differs after)."""
    h = group.health
    return state.configured_at + FOLLOWER_INTERVAL_S + (h.fall + h.rise + 1) * h.interval_s


def changes_at(view: GroupView, now: float) -> float:
    """The first time at or after `now` (wall clock) when `build_view` given the same inputs
    may build a different view; inf: never (its only clock is the serving votes' window)."""
    state = view.state
    if view.holder is None or state.configured != view.holder or not state.configured_at:
        return float("inf")
    end = serving_window_end(view.config, state)
    return end if end >= now else float("inf")


def health_of(view: GroupView, standby_ready: bool) -> Health:
    """The group's state: `healthy`/`degraded` only when the cloud shows it served."""
    if view.running or view.unfinished is not None:
        return Health.FAILING_OVER
    if view.eni is None or view.eni.status is None:
        return Health.UNKNOWN
    holder = view.holder
    if holder is not None and not view.foreign and view.member_up.get(holder) is False:
        return Health.DOWN
    if not view.served:
        return Health.UNSERVED
    if view.paused:
        return Health.PAUSED
    if view.state.blocked:
        return Health.BLOCKED
    return Health.HEALTHY if standby_ready else Health.DEGRADED


def why_unserved(view: GroupView) -> str:
    """One line for people: why the group is not served (empty when it is)."""
    eni = view.eni
    if view.served:
        return ""
    if eni is None:
        return "the ENI has not been read since the last move"
    if eni.status is None:
        return f"the ENI's state is unknown: {eni.error}"
    if eni.status is EniStatus.AVAILABLE:
        return "the ENI is Available: attached to no instance"
    if view.foreign and eni.instance is not None:
        return foreign_holder(eni.instance, view.name)
    if eni.status is not EniStatus.IN_USE:
        return f"the ENI is {eni.status} on {eni.instance}"
    if eni.instance is not None and view.member_up.get(eni.instance) is False:
        return f"the holder {eni.instance} is down by quorum"
    if view.state.configured == eni.instance and view.serving is False:
        return (f"the holder {eni.instance} is up, but the service does not answer through the "
                "service IPs (the serving signal)")
    return f"the guest step and verify have not succeeded on the holder {eni.instance}"


def foreign_holder(instance: str, group: str) -> str:
    """Why a group whose ENI is on a non-member is neither served nor moved."""
    return (f"the ENI is attached to {instance}, not a member of {group}: the controller never "
            "detaches a non-member; detach it by hand")
