"""Why a wanted failover is not made now, as data, and the one place it becomes words.

`decide` says what the group needed and what stands in the way (an obstacle, carried by
`actions.Block`); the loop counts the obstacle's code in `failover_decisions_total`, keeps a
flapping block's words in the journal as the group's `blocked_reason` (what `status` shows
until `failover ack`), and logs the sentence: the same words with the command that lifts it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar, assert_never

from failover.engine.view import foreign_holder


class BlockCode(enum.StrEnum):
    """A short, stable label per obstacle (the `reason` label of failover_decisions_total)."""

    ENI_UNKNOWN = "eni_unknown"
    FOREIGN_HOLDER = "foreign_holder"
    PAUSED = "paused"
    RETRY_BACKOFF = "retry_backoff"
    NO_STANDBY = "no_standby"
    BLOCKED = "blocked"
    COOLDOWN = "cooldown"
    FLAPPING = "flapping"


class Need(enum.Enum):
    """What the group needed when it was held back."""

    MOVE = "move"  # a failover away from the holder, or a guest step re-run on it (`wanted` says why)
    REPAIR = "repair"  # the ENI is Available: attach it to a member
    CONFIGURE = "configure"  # the guest step and verify on the holder


@dataclass(frozen=True)
class EniUnknown:
    error: str  # why the last read did not say
    code: ClassVar[BlockCode] = BlockCode.ENI_UNKNOWN


@dataclass(frozen=True)
class ForeignHolder:
    instance: str  # the non-member the cloud shows holding the ENI
    code: ClassVar[BlockCode] = BlockCode.FOREIGN_HOLDER


@dataclass(frozen=True)
class Paused:
    code: ClassVar[BlockCode] = BlockCode.PAUSED


@dataclass(frozen=True)
class Backoff:
    """The target to try next failed recently; its back-off has `retry_in_s` to run."""

    instance: str
    count: int
    error: str
    retry_in_s: float
    code: ClassVar[BlockCode] = BlockCode.RETRY_BACKOFF


@dataclass(frozen=True)
class NoStandby:
    unready: tuple[str, ...] = ()  # up by quorum but known not ready (that answer may be stale)
    code: ClassVar[BlockCode] = BlockCode.NO_STANDBY


@dataclass(frozen=True)
class Blocked:
    reason: str  # the group's blocked_reason, kept until `failover ack`
    code: ClassVar[BlockCode] = BlockCode.BLOCKED


@dataclass(frozen=True)
class Cooldown:
    left_s: float
    code: ClassVar[BlockCode] = BlockCode.COOLDOWN


@dataclass(frozen=True)
class Flapping:
    count: int  # automatic failovers within the window
    window_s: float
    code: ClassVar[BlockCode] = BlockCode.FLAPPING


Obstacle = EniUnknown | ForeignHolder | Paused | Backoff | NoStandby | Blocked | Cooldown | Flapping

AVAILABLE = "the ENI is Available (nothing serves)"


def sentence(group: str, obstacle: Obstacle, need: Need, wanted: str) -> str:
    """The block in words, with the command that lifts it when one does."""
    remedy = _remedy(obstacle)
    said = words(group, obstacle, need, wanted)
    return f"{said}; run `failover {remedy} {group}`" if remedy else said


def _remedy(obstacle: Obstacle) -> str:
    """The `failover` subcommand that lifts the block ("" when time or the cloud will)."""
    if isinstance(obstacle, Paused):
        return "resume"
    if isinstance(obstacle, (Blocked, Flapping)):
        return "ack"
    return ""


def words(group: str, obstacle: Obstacle, need: Need, wanted: str) -> str:
    """The block in words, without the command that lifts it (a flapping block's
    `blocked_reason`). `wanted`: what a failover was for (Need.MOVE), in decide's words."""
    o = obstacle
    match o:
        case EniUnknown():
            return f"the ENI's state is unknown ({o.error}); not acting on a guess"
        case ForeignHolder():
            return foreign_holder(o.instance, group)
        case NoStandby() if need is Need.REPAIR:
            return f"{AVAILABLE} and no member is healthy and ready"
        case Backoff() if need is Need.REPAIR:
            return f"{AVAILABLE}; {_waiting(o)}"
        case Backoff() if need is Need.CONFIGURE:
            return f"the holder {o.instance} is not configured: {_waiting(o, detail=False)}"
        case Paused():
            but = "automatic failover is paused"
        case Backoff():
            but = _waiting(o)
        case NoStandby():
            but = "no standby is healthy and ready"
        case Blocked():
            but = f"the group is blocked ({o.reason})"
        case Cooldown():
            but = f"the group is in cooldown for {o.left_s:.0f} s more"
        case Flapping():
            but = f"flapping: {o.count} failovers in {o.window_s:g} s"
        case _:
            assert_never(o)
    return f"{wanted}, but {but}"


def _waiting(b: Backoff, detail: bool = True) -> str:
    error = f" ({b.error or 'no detail'})" if detail else ""
    return f"{b.instance} failed {b.count} time(s){error}; retrying in {b.retry_in_s:.0f} s"
