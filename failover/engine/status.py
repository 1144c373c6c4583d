"""The status document (the `failover status --json` contract), built from the ports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from failover import quorum
from failover.config import Config
from failover.model import FailoverRecord, Observation
from failover.ports import Journal, Leadership

ObservationMap = Mapping[str, Mapping[str, Mapping[str, Observation]]]


def last_failover(record: FailoverRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {"id": record.id, "from": record.from_instance, "to": record.to_instance,
            "result": record.result.value, "duration_s": record.duration_s,
            "trigger": record.trigger.value, "started_at": record.started_at}


def build_status(cfg: Config, leadership: Leadership, journal: Journal, observations: ObservationMap,
                 readiness: Mapping[str, Mapping[str, bool]] | None = None) -> dict[str, Any]:
    leader = leadership.leader_id()
    controllers = sorted(leadership.controllers())
    live = max(1, len(controllers))
    unfinished = {r.group for r in journal.unfinished()}
    groups = []
    for g in cfg.groups:
        state = journal.group_state(g.name)
        history = journal.history(g.name, limit=1)
        members = []
        verdicts: dict[str, bool | None] = {}
        for m in g.members:
            votes = {c: o.up for c, o in observations.get(g.name, {}).get(m, {}).items()}
            verdicts[m] = quorum.quorum_verdict(votes, live, g.health.quorum)
            entry: dict[str, Any] = {"instance": m, "up": verdicts[m], "votes": votes,
                                     "holder": m == state.holder}
            if readiness is not None and m in readiness.get(g.name, {}):
                entry["ready"] = readiness[g.name][m]
            members.append(entry)
        standbys_up = [m for m in g.members if m != state.holder and verdicts[m] is True]
        if g.name in unfinished:
            health = "failing_over"
        elif state.blocked:
            health = "blocked"
        elif state.holder is None or verdicts.get(state.holder) is False:
            health = "down"
        elif not standbys_up:
            health = "degraded"  # serving, but nothing to fail over to
        else:
            health = "healthy"
        groups.append({
            "name": g.name, "holder": state.holder, "state": health, "members": members,
            "last_failover": last_failover(history[0] if history else None),
            "blocked_reason": state.blocked_reason or None,
            "cooldown_until": state.cooldown_until or None,
        })
    return {"leader": leader,
            "controllers": [{"id": c, "leader": c == leader} for c in controllers],
            "groups": groups}
