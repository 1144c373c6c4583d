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
        group = view.config
        for member in group.members:
            up = view.member_up.get(member)
            if up is not None:
                metrics.QUORUM_UP.labels(group=group.name, instance=member).set(1 if up else 0)
        metrics.GROUP_BLOCKED.labels(group=group.name).set(1 if view.state.blocked else 0)
        if view.eni is None:
            return  # the last read is older than our last move: nothing new to show
        for member in group.members:
            held = 1 if member == view.holder else 0
            metrics.ENI_HOLDER.labels(group=group.name, instance=member).set(held)
        metrics.NO_HEALTHY_STANDBY.labels(group=group.name).set(0 if healthy_standbys(view) else 1)
        metrics.GROUP_SERVED.labels(group=group.name).set(1 if view.served else 0)
        if view.running or view.unfinished is not None:
            return  # a failover is on it: its own log lines tell the story
        why = why_unserved(view)
        if why and self._unserved.get(group.name) != why:
            log.warning("group unserved", extra={"group": group.name, "reason": why})
        elif not why and group.name in self._unserved:
            log.info("group served again", extra={"group": group.name, "holder": view.holder})
        if why:
            self._unserved[group.name] = why
        else:
            self._unserved.pop(group.name, None)
