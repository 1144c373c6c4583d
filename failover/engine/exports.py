"""What the leader shows of each group's view every tick: metrics, and a log line when a
group turns unserved (once per change of reason) or is served again."""

from __future__ import annotations

import logging

from failover import metrics
from failover.engine.decide import healthy_standbys
from failover.engine.view import GroupView, why_unserved

log = logging.getLogger("failover.engine")


class ViewExports:
    def __init__(self) -> None:
        self._unserved: dict[str, str] = {}  # groups last seen unserved, and why

    def export(self, view: GroupView) -> None:
        """Per tick, so dashboards see the group before any failover; unserved is logged once
        per change of reason."""
        g = view.config
        for m in g.members:
            up = view.member_up.get(m)
            if up is not None:
                metrics.QUORUM_UP.labels(group=g.name, instance=m).set(1 if up else 0)
        metrics.GROUP_BLOCKED.labels(group=g.name).set(1 if view.state.blocked else 0)
        if view.eni is None:
            return  # the last read is older than our last move: nothing new to show
        for m in g.members:
            metrics.ENI_HOLDER.labels(group=g.name, instance=m).set(1 if m == view.holder else 0)
        metrics.NO_HEALTHY_STANDBY.labels(group=g.name).set(0 if healthy_standbys(view) else 1)
        metrics.GROUP_SERVED.labels(group=g.name).set(1 if view.served else 0)
        if view.running or view.unfinished is not None:
            return  # a failover is on it: its own log lines tell the story
        why = why_unserved(view)
        if why and self._unserved.get(g.name) != why:
            log.warning("group unserved", extra={"group": g.name, "reason": why})
        elif not why and g.name in self._unserved:
            log.info("group served again", extra={"group": g.name, "holder": view.holder})
        if why:
            self._unserved[g.name] = why
        else:
            self._unserved.pop(g.name, None)
