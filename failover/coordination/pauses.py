"""Maintenance pauses: `pauses/<group>` holds {at, by} while an operator has paused the
group's automatic failover (`failover pause`), and is deleted by `failover resume`.

A znode of its own rather than a field of the group state: an operator's write never races
the leader's fenced group-state writes, and a pause survives `journal reset --groups`.
Writes need no epoch (like `ack`): pausing must work with no leader at all.
"""

from __future__ import annotations

import logging
import time

from kazoo.exceptions import NodeExistsError, NoNodeError

from failover.coordination.codec import Undecodable, decode, encode
from failover.coordination.recent import Recent
from failover.coordination.session import ZkSession

log = logging.getLogger(__name__)


class ZkPauses:
    def __init__(self, coord: ZkSession) -> None:
        self._coord = coord
        self._recent = Recent(self._read)

    def pause(self, group: str, by: str, now: float | None = None) -> bool:
        """True if this call paused it; False if it already was (the first pause's time stays)."""
        coord = self._coord
        coord.ensure_path(coord.layout.pauses)
        body = encode({"at": time.time() if now is None else now, "by": by})
        try:
            coord.call(coord.client.create_async, coord.layout.pause(group), body)
        except NodeExistsError:
            return False
        finally:
            self._recent.forget()
        log.info("group %s paused", group, extra={"by": by})
        return True

    def resume(self, group: str) -> bool:
        """True if the group was paused."""
        coord = self._coord
        try:
            coord.call(coord.client.delete_async, coord.layout.pause(group))
        except NoNodeError:
            return False
        finally:
            self._recent.forget()
        log.info("group %s resumed", group)
        return True

    def paused(self) -> dict[str, float]:
        """Paused groups and since when (Unix time). An unreadable pause still counts as a pause
        (since 0): refusing to fail over is the safe reading of a maintenance flag. A pause set
        by another process is seen within `recent.MAX_AGE_S`."""
        return self._recent.get()

    def _read(self) -> dict[str, float]:
        out: dict[str, float] = {}
        coord = self._coord
        for name in coord.children(coord.layout.pauses):
            found = coord.get_or_none(coord.layout.pause(name))
            if found is None:
                continue
            try:
                at = decode(found[0]).get("at")
            except Undecodable:
                at = None
            out[name] = float(at) if isinstance(at, int | float) else 0.0
        return out
