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
                metrics.set_quorum_verdict(g.name, m, up)
        metrics.set_blocked(g.name, view.state.blocked)
        if view.eni is None:
            return  # the last read is older than our last move: nothing new to show
        # The holder gauge's one writer, from what the cloud showed (a failover's attach shows
        # here with the next ENI read, not from the step's own answer).
        metrics.set_holder(g.name, g.members, view.holder)
        metrics.set_no_healthy_standby(g.name, not healthy_standbys(view))
        metrics.set_served(g.name, view.served)
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
