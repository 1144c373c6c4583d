"""The status document (the `failover status --json` contract), built from the ports and
the cloud's look at each ENI with the same view builder the leader decides on.

Standby readiness, when known, adds `ready` and `ready_reason` to each standby:
the reason is a line for people (never a metric label, to keep label sets small).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from failover import quorum
from failover.config import Config
from failover.engine.decide import healthy_standbys
from failover.engine.readiness import StandbyReadiness
from failover.engine.view import EniSeen, GroupView, Health, build_view, health_of, why_unserved
from failover.model import JournalCorrupt
from failover.ports import JournalReader, Leadership
from failover.records import FailoverRecord, GroupState, Observation

ObservationMap = Mapping[str, Mapping[str, Mapping[str, Observation]]]


def last_failover(record: FailoverRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {"id": record.id, "from": record.from_instance, "to": record.to_instance,
            "result": record.result.value, "duration_s": record.duration_s,
            "trigger": record.trigger.value, "started_at": record.started_at}


def build_status(cfg: Config, leadership: Leadership, journal: JournalReader, observations: ObservationMap,
                 readiness: Mapping[str, Mapping[str, StandbyReadiness]] | None = None,
                 enis: Mapping[str, EniSeen] | None = None,
                 paused: Mapping[str, float] | None = None) -> dict[str, Any]:
    """`enis`: ENI id -> the cloud's look at it. The holder and whether the group is served come
    from there, never from the journal; without it every group's state is `unknown`.
    `paused`: group -> since when automatic failover is paused (`failover pause`)."""
    leader = leadership.leader_id()
    controllers = sorted(leadership.controllers())
    live = quorum.electorate(len(controllers), cfg.controller.replicas)
    unfinished = {r.group: r for r in journal.unfinished()}
    groups = []
    for group in cfg.groups:
        corrupt: str | None = None
        try:
            state = journal.group_state(group.name)
        except JournalCorrupt as e:  # one bad znode must not hide every other group
            state, corrupt = GroupState(group.name), f"{e}; see `failover journal inspect`"
        ready = {member: r.ready for member, r in (readiness or {}).get(group.name, {}).items()}
        view = build_view(group, state, observations.get(group.name, {}), live,
                          eni=(enis or {}).get(group.network_interface), ready=ready,
                          unfinished=unfinished.get(group.name), paused=group.name in (paused or {}))
        history = journal.history(group.name, limit=1)
        members = []
        for member in group.members:
            votes = {c: o.up for c, o in observations.get(group.name, {}).get(member, {}).items()}
            entry: dict[str, Any] = {"instance": member, "up": view.member_up[member], "votes": votes,
                                     "holder": member == view.holder}
            known = (readiness or {}).get(group.name, {}).get(member)
            if known is not None and member != view.holder:
                entry["ready"] = known.ready
                entry["ready_reason"] = known.reason
            members.append(entry)
        health = Health.CORRUPT if corrupt is not None else health_of(view, bool(healthy_standbys(view)))
        doc: dict[str, Any] = {
            "name": group.name, "holder": view.holder, "state": health.value, "members": members,
            "last_failover": last_failover(history[0] if history else None),
            "blocked_reason": state.blocked_reason or None,
            "cooldown_until": state.cooldown_until or None,
            "eni": _eni_doc(view),
            "served": view.served,
        }
        why = why_unserved(view)
        if why and health is not Health.FAILING_OVER:
            doc["unserved_reason"] = why
        if corrupt is not None:
            doc["error"] = corrupt
        if group.name in (paused or {}):
            doc["paused_since"] = (paused or {})[group.name]
        groups.append(doc)
    return {"leader": leader,
            "controllers": [{"id": c, "leader": c == leader} for c in controllers],
            "groups": groups}


def _eni_doc(view: GroupView) -> dict[str, Any]:
    """What the cloud shows of the ENI, beside what the journal recorded."""
    eni = view.eni
    doc: dict[str, Any] = {"id": view.config.network_interface,
                           "status": None if eni is None or eni.status is None else eni.status.value,
                           "instance": view.holder,
                           "recorded_holder": view.state.holder,
                           "configured": view.state.configured}
    if eni is not None and eni.error:
        doc["error"] = eni.error
    return doc


def readiness_lines(group: Mapping[str, Any]) -> list[str]:
    """The text lines of one status group: one per standby whose readiness is known."""
    out = []
    for member in group["members"]:
        if "ready" not in member:
            continue
        if member["ready"]:
            note = f" ({member['ready_reason']})" if member.get("ready_reason") else ""
            out.append(f"  {member['instance']}: ready for the ENI{note}")
        else:
            out.append(f"  {member['instance']}: NOT READY: {member['ready_reason']}")
    return out
