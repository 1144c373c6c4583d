"""The account's API limit split across the live replicas, agreed through ZooKeeper.

Every replica counts the same children of `controllers/` (the registry's ephemerals, one per
live session), so all replicas agree on how many share the account within a watch's delay;
each then tells its own budget through `ports.ApiShare`. A replica not yet registered counts
itself. A replica that died keeps its share until its session expires (the safe direction:
the others stay below the limit meanwhile). While ZooKeeper is away the last count holds.
"""

from __future__ import annotations

import logging

from kazoo.exceptions import NoNodeError

from failover.coordination.session import ZkSession
from failover.ports import ApiShare

log = logging.getLogger(__name__)


class ApiShareWatch:
    def __init__(self, coord: ZkSession, share: ApiShare) -> None:
        self._coord = coord
        self._share = share
        self.replicas: int | None = None

    def join(self) -> None:
        self._coord.add_reconciler(self.reconcile)

    def reconcile(self) -> None:
        """Runs on the coordination worker: every tick, and at once when the set changes."""
        coord = self._coord
        path = coord.layout.controllers
        try:
            names = set(coord.call(coord.client.get_children_async, path, watch=coord.wake))
        except NoNodeError:
            names = set()
        n = len(names | {coord.controller_id})
        if n != self.replicas:
            log.info("API limit shared by %d replica(s)", n,
                     extra={"replicas": n, "controllers": sorted(names)})
            self.replicas = n
            self._share.set_replicas(n)
