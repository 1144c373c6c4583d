"""The quorum rule lives in `failover.quorum` (shared, pure); re-exported for this package."""

from failover.quorum import QuorumSpec, quorum_verdict, votes_needed

__all__ = ["QuorumSpec", "quorum_verdict", "votes_needed"]
