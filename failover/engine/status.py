"""The status document (the `failover status --json` contract), built from the ports.

Standby readiness, when known, adds `ready` and `ready_reason` to each standby:
the reason is a line for people (never a metric label, to keep label sets small).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from failover import quorum
from failover.config import Config
from failover.engine.readiness import StandbyReadiness
from failover.model import JournalCorrupt
from failover.ports import Journal, Leadership
from failover.records import FailoverRecord, GroupState, Observation

ObservationMap = Mapping[str, Mapping[str, Mapping[str, Observation]]]


def last_failover(record: FailoverRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {"id": record.id, "from": record.from_instance, "to": record.to_instance,
            "result": record.result.value, "duration_s": record.duration_s,
            "trigger": record.trigger.value, "started_at": record.started_at}


def build_status(cfg: Config, leadership: Leadership, journal: Journal, observations: ObservationMap,
                 readiness: Mapping[str, Mapping[str, StandbyReadiness]] | None = None,
                 paused: Mapping[str, float] | None = None,
                 ) -> dict[str, Any]:
    leader = leadership.leader_id()
    controllers = sorted(leadership.controllers())
    live = max(1, len(controllers))
    unfinished = {r.group for r in journal.unfinished()}
    groups = []
    for g in cfg.groups:
        corrupt: str | None = None
        try:
            state = journal.group_state(g.name)
        except JournalCorrupt as e:  # one bad znode must not hide every other group
            state, corrupt = GroupState(g.name), f"{e}; see `failover journal inspect`"
        history = journal.history(g.name, limit=1)
        members = []
        verdicts: dict[str, bool | None] = {}
        for m in g.members:
            votes = {c: o.up for c, o in observations.get(g.name, {}).get(m, {}).items()}
            verdicts[m] = quorum.quorum_verdict(votes, live, g.health.quorum)
            entry: dict[str, Any] = {"instance": m, "up": verdicts[m], "votes": votes,
                                     "holder": m == state.holder}
            known = (readiness or {}).get(g.name, {}).get(m)
            if known is not None and m != state.holder:
                entry["ready"] = known.ready
                entry["ready_reason"] = known.reason
            members.append(entry)
        standbys_up = [m for m in g.members if m != state.holder and verdicts[m] is True
                       and not _not_ready(readiness or {}, g.name, m)]
        if corrupt is not None:
            health = "corrupt"
        elif g.name in unfinished:
            health = "failing_over"
        elif g.name in (paused or {}) and state.holder and verdicts.get(state.holder) is not False:
            health = "paused"  # a paused group that is down still shows "down": that is the news
        elif state.blocked:
            health = "blocked"
        elif state.holder is None or verdicts.get(state.holder) is False:
            health = "down"
        elif not standbys_up:
            health = "degraded"  # serving, but no standby is up and ready to take over
        else:
            health = "healthy"
        doc: dict[str, Any] = {
            "name": g.name, "holder": state.holder, "state": health, "members": members,
            "last_failover": last_failover(history[0] if history else None),
            "blocked_reason": state.blocked_reason or None,
            "cooldown_until": state.cooldown_until or None,
        }
        if corrupt is not None:
            doc["error"] = corrupt
        if g.name in (paused or {}):
            doc["paused_since"] = (paused or {})[g.name]
        groups.append(doc)
    return {"leader": leader,
            "controllers": [{"id": c, "leader": c == leader} for c in controllers],
            "groups": groups}


def _not_ready(readiness: Mapping[str, Mapping[str, StandbyReadiness]], group: str, member: str) -> bool:
    known = readiness.get(group, {}).get(member)
    return known is not None and not known.ready


def readiness_lines(group: Mapping[str, Any]) -> list[str]:
    """The text lines of one status group: one per standby whose readiness is known."""
    out = []
    for m in group["members"]:
        if "ready" not in m:
            continue
        if m["ready"]:
            note = f" ({m['ready_reason']})" if m.get("ready_reason") else ""
            out.append(f"  {m['instance']}: ready for the ENI{note}")
        else:
            out.append(f"  {m['instance']}: NOT READY: {m['ready_reason']}")
    return out
