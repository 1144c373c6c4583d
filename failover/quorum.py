"""The quorum rule: how many replicas must agree before a verdict counts (pure).

Shared by health, coordination and the engine: a member is declared down only
when enough live replicas agree, so one replica cut off from a primary cannot
cause a failover on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

QuorumSpec = Literal["majority", "all"] | int

VOTE_ROUNDS = 3  # a vote counts for this many of its group's intervals without a new round...
VOTE_SLACK_S = 3.0  # ...plus the cadence of writing and reading round times (1 s + 0.5 s) and a tick


def vote_max_age(interval_s: float) -> float:
    """How long a replica's vote on a group counts while its rounds for the group stand still."""
    return VOTE_ROUNDS * interval_s + VOTE_SLACK_S


def electorate(live: int, replicas: int | None) -> int:
    """How many replicas a quorum is counted against.

    With `controller.replicas` set, at least that many: a partition that cuts the others off
    from ZooKeeper cannot shrink the electorate, so one replica's view never decides alone.
    Without it, the live replicas (the weaker choice: after a partition, the replicas left
    are the whole electorate).
    """
    return max(live, replicas or 0, 1)


def votes_needed(live: int, quorum: QuorumSpec) -> int:
    """Votes one verdict needs among `live` replicas.

    `majority` and `all` are relative to the live replicas; a number is absolute,
    so with fewer live replicas than that number no verdict can be reached (the
    operator asked for that many independent views).
    """
    if live < 0:
        raise ValueError(f"live: must be >= 0, got {live}")
    if quorum == "majority":
        return live // 2 + 1
    if quorum == "all":
        return max(live, 1)
    if isinstance(quorum, bool) or not isinstance(quorum, int) or quorum < 1:
        raise ValueError(f"quorum: expected 'majority', 'all' or an integer >= 1, got {quorum!r}")
    return quorum


def quorum_verdict(
    votes: Mapping[str, bool], live: int, quorum: QuorumSpec
) -> bool | None:
    """True (up) or False (down) once enough replicas agree; None when neither side has enough.

    `votes` maps controller id -> that replica's verdict and should hold live
    replicas only. When a small absolute quorum lets both sides qualify, `down`
    wins: a member that some replicas see down is not a safe failover target,
    and the quorum number is how many replicas must see it down to act.
    """
    need = votes_needed(live, quorum)
    if live == 0 or not votes:
        return None
    down = sum(1 for v in votes.values() if not v)
    up = len(votes) - down
    if down >= need:
        return False
    if up >= need:
        return True
    return None
