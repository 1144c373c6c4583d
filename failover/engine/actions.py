"""What `decide` asks for: one frozen dataclass per kind of action, and their union.

Each kind carries what it needs and nothing else (a move has its target, a resume its
record, a rejection its request), so the loop dispatches on the type and mypy checks that
every kind is handled. `kind` is the label logs, tests and `drill --dry-run` show.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

from failover.engine.blocks import BlockCode, Flapping, Need, NoStandby, Obstacle, sentence, words
from failover.model import Trigger
from failover.records import DrillRequest, FailoverRecord


class Kind(enum.StrEnum):
    FAILOVER = "failover"  # automatic: the holder is down, or the ENI serves nobody
    RESUME = "resume"  # finish a failover an earlier leader started
    ABANDON = "abandon"  # close an unfinished failover whose target went away before its attach
    ADOPT = "adopt"  # run the guest step and verify on the ENI's real holder, making it the holder
    DRILL = "drill"  # an operator's switchover request
    BLOCK = "block"  # a failover is wanted but not allowed now (engine/blocks.py says why)
    REJECT = "reject"  # a drill request that cannot be served
    RELEASE = "release"  # clean a returned former holder's OS (it becomes a standby)


@dataclass(frozen=True)
class Failover:
    """Move the ENI to `to_instance` (from `from_instance`, None when it is Available)."""

    group: str
    reason: str
    from_instance: str | None
    to_instance: str
    kind: ClassVar[Kind] = Kind.FAILOVER
    trigger: ClassVar[Trigger] = Trigger.AUTO


@dataclass(frozen=True)
class Drill:
    """An operator's switchover, answering `request`."""

    group: str
    reason: str
    from_instance: str | None
    to_instance: str
    request: DrillRequest
    kind: ClassVar[Kind] = Kind.DRILL
    trigger: ClassVar[Trigger] = Trigger.DRILL


@dataclass(frozen=True)
class Adopt:
    """Run the guest step and verify on the ENI's real holder `to_instance`; `from_instance` is
    the holder the journal had. `not_serving`: the holder is up but did not serve, and is noted
    so before the re-run (see decide)."""

    group: str
    reason: str
    from_instance: str | None
    to_instance: str
    not_serving: bool = False
    kind: ClassVar[Kind] = Kind.ADOPT
    trigger: ClassVar[Trigger] = Trigger.ADOPT


@dataclass(frozen=True)
class _OnRecord:
    """An action about an unfinished journal record: its move is the record's."""

    group: str
    reason: str
    record: FailoverRecord

    @property
    def from_instance(self) -> str | None:
        return self.record.from_instance

    @property
    def to_instance(self) -> str:
        return self.record.to_instance


@dataclass(frozen=True)
class Resume(_OnRecord):
    """Run the remaining steps of `record`, left unfinished by an earlier leader."""

    kind: ClassVar[Kind] = Kind.RESUME


@dataclass(frozen=True)
class Abandon(_OnRecord):
    """Close `record`, whose attach never started, as aborted."""

    kind: ClassVar[Kind] = Kind.ABANDON


@dataclass(frozen=True)
class Release:
    """Remove the ENI's addresses from the OS of `instance`, a former holder that is back."""

    group: str
    reason: str
    instance: str
    kind: ClassVar[Kind] = Kind.RELEASE


@dataclass(frozen=True)
class Block:
    """A failover (or an adoption, a repair) is wanted but not allowed now: `obstacle` says
    why, as data; engine/blocks.py words it."""

    group: str
    obstacle: Obstacle
    need: Need = Need.MOVE
    wanted: str = ""  # Need.MOVE: what the failover was for, in decide's words
    kind: ClassVar[Kind] = Kind.BLOCK

    @property
    def code(self) -> BlockCode:
        return self.obstacle.code

    @property
    def unready(self) -> tuple[str, ...]:
        return self.obstacle.unready if isinstance(self.obstacle, NoStandby) else ()

    @property
    def persists(self) -> bool:
        """Kept in the group's state until `failover ack` (flapping), not decided afresh."""
        return isinstance(self.obstacle, Flapping)

    @property
    def blocked_reason(self) -> str:
        """What a persisted block keeps as the group's `blocked_reason`."""
        return words(self.group, self.obstacle, self.need, self.wanted)

    @property
    def reason(self) -> str:
        return sentence(self.group, self.obstacle, self.need, self.wanted)


@dataclass(frozen=True)
class Reject:
    """A drill `request` that cannot be served, and why."""

    group: str
    reason: str
    request: DrillRequest
    kind: ClassVar[Kind] = Kind.REJECT


Move = Failover | Drill | Adopt  # the actions that begin a new failover record
Action = Failover | Drill | Adopt | Resume | Abandon | Release | Block | Reject
