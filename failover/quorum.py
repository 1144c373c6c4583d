"""Quorum arithmetic over the replicas' votes: pure, shared by health and the engine.

A member is declared down only when enough live replicas agree, so one
replica cut off from a primary cannot cause a failover on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

QuorumSetting = Literal["majority", "all"] | int


def needed(live: int, quorum: QuorumSetting) -> int:
    """How many agreeing votes decide, given `live` replicas (at least 1)."""
    live = max(live, 1)
    if quorum == "majority":
        return live // 2 + 1
    if quorum == "all":
        return live
    return max(1, min(int(quorum), live))


def verdict(votes: Mapping[str, bool], live: int, quorum: QuorumSetting) -> bool | None:
    """True (up), False (down by quorum) or None (not enough votes to say).

    Down needs `needed` down votes. Up is declared as soon as a down quorum has
    become impossible, so a single healthy vote among three is enough to hold.
    """
    need = needed(live, quorum)
    downs = sum(1 for up in votes.values() if not up)
    ups = len(votes) - downs
    if downs >= need:
        return False
    if ups > max(live, len(votes)) - need:
        return True
    return None
