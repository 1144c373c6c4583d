"""The status document (the `failover status --json` contract), built from the ports and
the cloud's look at each ENI with the same view builder the leader decides on.

Standby readiness, when known, adds `ready` and `ready_reason` to each standby:
the reason is a line for people (never a metric label, to keep label sets small).
`build_status` builds the whole document (the CLI); a replica's /status rebuilds it by parts
(`StatusParts`): each group's part from its `GroupInputs`, reused while they are unchanged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from failover import quorum
from failover.config import Config, GroupConfig
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
    head, inputs = status_inputs(cfg, leadership, journal, observations, readiness, enis, paused)
    return {**head, "groups": [group_status(i) for i in inputs]}


_ENI_SHOWN = tuple(f.name for f in fields(EniSeen) if f.name != "at")  # `at`: see GroupInputs.key


@dataclass(frozen=True)
class GroupInputs:
    """Everything one group's part of the status document is built from, and nothing else."""

    group: GroupConfig
    state: GroupState
    corrupt: str | None  # the group state could not be decoded
    observations: Mapping[str, Mapping[str, Observation]]  # this group's votes
    live: int
    eni: EniSeen | None
    readiness: Mapping[str, StandbyReadiness]
    unfinished: FailoverRecord | None
    latest: FailoverRecord | None  # the newest failover, running or finished
    paused_since: float | None

    def key(self) -> tuple[Any, ...]:
        """Equal keys give equal parts (`StatusParts` reuses a part while its key is equal).
        The ENI's look is compared without `at` (when it was read), which no document shows:
        every round of ENI reads would otherwise make every part new."""
        eni = self.eni
        return (self.group, self.state, self.corrupt,
                tuple((m, tuple(v.items())) for m, v in self.observations.items()), self.live,
                None if eni is None else tuple(getattr(eni, f) for f in _ENI_SHOWN),
                tuple(self.readiness.items()), self.unfinished, self.latest, self.paused_since)


def status_inputs(cfg: Config, leadership: Leadership, journal: JournalReader,
                  observations: ObservationMap,
                  readiness: Mapping[str, Mapping[str, StandbyReadiness]] | None = None,
                  enis: Mapping[str, EniSeen] | None = None,
                  paused: Mapping[str, float] | None = None,
                  pace: Callable[[], None] = lambda: None,
                  ) -> tuple[dict[str, Any], list[GroupInputs]]:
    """The document's head (leader, controllers) and each group's inputs, read once.
    `pace` is called after each group (`StatusParts.pace`)."""
    leader = leadership.leader_id()
    controllers = sorted(leadership.controllers())
    live = quorum.electorate(len(controllers), cfg.controller.replicas)
    unfinished = {r.group: r for r in journal.unfinished()}
    inputs = []
    for group in cfg.groups:
        corrupt: str | None = None
        try:
            state = journal.group_state(group.name)
        except JournalCorrupt as e:  # one bad znode must not hide every other group
            state, corrupt = GroupState(group.name), f"{e}; see `failover journal inspect`"
        history = journal.history(group.name, limit=1)
        inputs.append(GroupInputs(
            group, state, corrupt, observations.get(group.name, {}), live,
            (enis or {}).get(group.network_interface), (readiness or {}).get(group.name, {}),
            unfinished.get(group.name), history[0] if history else None,
            (paused or {}).get(group.name)))
        pace()
    head = {"leader": leader, "controllers": [{"id": c, "leader": c == leader} for c in controllers]}
    return head, inputs


def group_status(inp: GroupInputs) -> dict[str, Any]:
    """One group's part of the status document."""
    group, state = inp.group, inp.state
    ready = {member: r.ready for member, r in inp.readiness.items()}
    view = build_view(group, state, inp.observations, inp.live, eni=inp.eni, ready=ready,
                      unfinished=inp.unfinished, paused=inp.paused_since is not None)
    members = []
    for member in group.members:
        votes = {c: o.up for c, o in inp.observations.get(member, {}).items()}
        entry: dict[str, Any] = {"instance": member, "up": view.member_up[member], "votes": votes,
                                 "holder": member == view.holder}
        known = inp.readiness.get(member)
        if known is not None and member != view.holder:
            entry["ready"] = known.ready
            entry["ready_reason"] = known.reason
        members.append(entry)
    health = Health.CORRUPT if inp.corrupt is not None else health_of(view, bool(healthy_standbys(view)))
    doc: dict[str, Any] = {
        "name": group.name, "holder": view.holder, "state": health.value, "members": members,
        "last_failover": last_failover(inp.latest),
        "blocked_reason": state.blocked_reason or None,
        "cooldown_until": state.cooldown_until or None,
        "eni": _eni_doc(view),
        "served": view.served,
    }
    why = why_unserved(view)
    if why and health is not Health.FAILING_OVER:
        doc["unserved_reason"] = why
    if inp.corrupt is not None:
        doc["error"] = inp.corrupt
    if inp.paused_since is not None:
        doc["paused_since"] = inp.paused_since
    return doc


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


class StatusParts:
    """The status document rebuilt part by part, for a replica's /status (`server.Encoded`).

    A group's part (its dict and its JSON) is reused while its `GroupInputs.key` is equal,
    so a rebuild of 1,000 groups where little changed builds and encodes only what did. The
    rebuild runs on a thread of the replica's process, beside the HTTP handlers: every
    `yield_every_s` of it, it sleeps `pause_s` so a waiting request can take the interpreter
    lock at once instead of after the lock's switch interval (5 ms), many times over (each
    request needs it after each socket call)."""

    def __init__(self, *, yield_every_s: float = 0.002, pause_s: float = 0.0002,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._parts: dict[str, tuple[tuple[Any, ...], dict[str, Any], bytes]] = {}
        self._yield_every_s = yield_every_s
        self._pause_s = pause_s
        self._sleep = sleep
        self._since = time.perf_counter()
        self.built = 0  # parts built (not reused) by the last `encode`

    def pace(self) -> None:
        """Called between two pieces of a rebuild: sleeps `pause_s` once `yield_every_s` has
        passed since its last sleep."""
        now = time.perf_counter()
        if now - self._since >= self._yield_every_s:
            self._sleep(self._pause_s)
            self._since = time.perf_counter()

    def encode(self, head: Mapping[str, Any], inputs: list[GroupInputs],
               tail: Mapping[str, Any]) -> tuple[dict[str, Any], bytes]:
        """The document {**head, "groups": [...], **tail} and its JSON."""
        parts: dict[str, tuple[tuple[Any, ...], dict[str, Any], bytes]] = {}
        docs, bodies = [], []
        built = 0
        for inp in inputs:
            key = inp.key()
            known = self._parts.get(inp.group.name)
            if known is None or known[0] != key:
                doc = group_status(inp)
                known = (key, doc, json.dumps(doc).encode())
                built += 1
            parts[inp.group.name] = known
            docs.append(known[1])
            bodies.append(known[2])
            self.pace()
        self._parts, self.built = parts, built  # groups no longer configured are dropped
        doc = {**head, "groups": docs, **tail}
        fields = [_field(k, v) for k, v in head.items()]
        fields.append(b'"groups":[' + b",".join(bodies) + b"]")
        fields += [_field(k, v) for k, v in tail.items()]
        return doc, b"{" + b",".join(fields) + b"}"


def _field(key: str, value: Any) -> bytes:
    return f"{json.dumps(key)}:{json.dumps(value)}".encode()
