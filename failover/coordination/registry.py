"""Live replicas: each registers an ephemeral `controllers/<id>` owned by its session.

A replica killed and restarted with the same id finds its old ephemeral still
there until the old session expires. It never deletes it (that node could be
a live duplicate with the same id); it waits, watching the node, so the other
roles (election, observations) start only once the old session's ephemerals
are all gone.
"""

from __future__ import annotations

import logging
import time

from kazoo.exceptions import NodeExistsError

from failover.coordination.codec import encode
from failover.coordination.recent import Recent
from failover.coordination.session import ZkSession

log = logging.getLogger(__name__)


class ControllerRegistry:
    def __init__(self, coord: ZkSession) -> None:
        self._coord = coord
        self._registered_session: int | None = None
        self._waiting_on: int | None = None  # the foreign session we watch
        self._started_at = time.time()
        self._recent = Recent(self._read_live)

    def join(self) -> None:
        self._coord.add_reconciler(self.reconcile)

    def registered(self) -> bool:
        sid = self._coord.session_id
        return sid is not None and sid == self._registered_session

    def live(self) -> list[str]:
        """The registered replicas; one that came or went is seen within `recent.MAX_AGE_S`."""
        return self._recent.get()

    def _read_live(self) -> list[str]:
        return sorted(self._coord.children(self._coord.layout.controllers))

    def reconcile(self) -> None:
        coord = self._coord
        sid = coord.session_id
        if sid is None or sid == self._registered_session:
            return
        path = coord.layout.controller(coord.controller_id)
        coord.ensure_path(coord.layout.controllers)
        body = encode({"id": coord.controller_id, "started_at": self._started_at})
        try:
            coord.call(coord.client.create_async, path, body, ephemeral=True)
        except NodeExistsError:
            found = coord.get_or_none(path, watch=coord.wake)
            if found is None:
                coord.wake()  # vanished between the two calls: try again at once
                return
            owner = int(found[1].ephemeralOwner)
            if owner != sid:
                if self._waiting_on != owner:
                    log.warning(
                        "controller id %s is still registered by session 0x%x (a killed process "
                        "or a duplicate id); waiting for it to expire",
                        coord.controller_id, owner,
                    )
                self._waiting_on = owner
                return
        self._registered_session = sid
        self._waiting_on = None
        self._recent.forget()
        log.info("registered as controller %s (session 0x%x)", coord.controller_id, sid)
