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
        # What each gauge was last set to, by (group, what): the leader ticks 20 times a second,
        # and setting ~8 labelled gauges per group each tick was a fifth of a 1,000-group
        # replica's CPU; a gauge is set again only when its value changes.
        self._shown: dict[tuple[str, str], object] = {}

    def _changed(self, group: str, what: str, value: object) -> bool:
        key = (group, what)
        if key in self._shown and self._shown[key] == value:
            return False
        self._shown[key] = value
        return True

    def paused(self, group: str, since: float | None) -> None:
        if self._changed(group, "paused", since):
            metrics.set_paused(group, since)

    def export(self, view: GroupView) -> None:
        """Per tick, so dashboards see the group before any failover; unserved is logged once
        per change of reason."""
        group = view.config
        none = not healthy_standbys(view) if view.eni is not None else None
        shown = (tuple(view.member_up.get(m) for m in group.members), group.members,
                 view.state.blocked, view.eni is not None, view.holder, none, view.served)
        if self._shown.get((group.name, "")) != shown:  # else: every gauge below is as shown
            self._shown[(group.name, "")] = shown
            self._set(view, none)
        self._log_unserved(view)

    def _set(self, view: GroupView, none: bool | None) -> None:
        group = view.config
        for member in group.members:
            up = view.member_up.get(member)
            if up is not None and self._changed(group.name, "up:" + member, up):
                metrics.set_quorum_verdict(group.name, member, up)
        if self._changed(group.name, "blocked", view.state.blocked):
            metrics.set_blocked(group.name, view.state.blocked)
        if view.eni is None or none is None:
            return  # the last read is older than our last move: nothing new to show
        # The holder gauge's one writer, from what the cloud showed (a failover's attach shows
        # here with the next ENI read, not from the step's own answer).
        if self._changed(group.name, "holder", (view.holder, tuple(group.members))):
            metrics.set_holder(group.name, group.members, view.holder)
        if self._changed(group.name, "no_standby", none):
            metrics.set_no_healthy_standby(group.name, none)
        if self._changed(group.name, "served", view.served):
            metrics.set_served(group.name, view.served)

    def _log_unserved(self, view: GroupView) -> None:
        group = view.config
        if view.eni is None:
            return
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
