"""Fenced writes: every leader write is a transaction that checks the epoch znode's version.

The epoch *is* the version of `<root>/epoch`: a new leader bumps it in the same
transaction that creates the leader znode, so a token (controller, epoch) names
exactly the version a write must still see. Once a newer leader has bumped it,
any write carrying the old epoch fails atomically with nothing applied.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kazoo.exceptions import BadVersionError, NoNodeError, RolledBackError, RuntimeInconsistency

from failover.coordination.session import ZkSession
from failover.model import StaleEpoch
from failover.records import FencingToken


def first_error(results: list[Any]) -> tuple[int, Exception] | None:
    """The operation that failed a multi-op (the others report rolled back)."""
    for i, r in enumerate(results):
        if isinstance(r, Exception) and not isinstance(r, RolledBackError | RuntimeInconsistency):
            return i, r
    return None


def fenced_commit(
    coord: ZkSession, token: FencingToken, build: Callable[[Any], None], what: str
) -> list[Any]:
    """Commits `build`'s operations only if `token.epoch` is still current.

    Returns the results of the caller's operations (the epoch check excluded).
    Raises StaleEpoch when a newer leader exists, or re-raises the first
    failing operation's error for the caller to interpret.
    """
    tx = coord.client.transaction()
    tx.check(coord.layout.epoch, version=token.epoch)
    build(tx)
    results = coord.commit(tx)
    failed = first_error(results)
    if failed is None:
        return results[1:]
    index, err = failed
    if index == 0 and isinstance(err, BadVersionError | NoNodeError):
        coord.stale_epoch(token.epoch)  # the leader resigns that epoch and contends again
        raise StaleEpoch(
            f"{what}: epoch {token.epoch} of {token.controller_id} is stale; a newer leader exists"
        )
    raise err
