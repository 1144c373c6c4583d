"""Znode payloads <-> domain types, and the pure rules the journal applies to them.

Decoding never trusts a znode: anything unreadable raises `Undecodable`, which
callers turn into `JournalCorrupt` (a read the operator asked for) or a log line
and a skip (a listing), never a crash of the controller.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from failover.records import DrillRequest, FailoverRecord, GroupState, Observation


class Undecodable(ValueError):
    """A znode's bytes are not the JSON document expected there."""


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def decode(raw: bytes | None) -> dict[str, Any]:
    try:
        doc = json.loads((raw or b"").decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Undecodable(f"not JSON ({e.__class__.__name__})") from None
    if not isinstance(doc, dict):
        raise Undecodable(f"expected a JSON object, got {type(doc).__name__}")
    return doc


def _typed(raw: bytes | None, build: Any, what: str) -> Any:
    doc = decode(raw)
    try:
        return build(doc)
    except (KeyError, TypeError, ValueError) as e:
        raise Undecodable(f"not a valid {what}: {e.__class__.__name__}: {e}") from None


def decode_record(raw: bytes | None) -> FailoverRecord:
    rec: FailoverRecord = _typed(raw, FailoverRecord.from_dict, "failover record")
    return rec


def decode_group_state(raw: bytes | None) -> GroupState:
    state: GroupState = _typed(raw, GroupState.from_dict, "group state")
    return state


def decode_request(raw: bytes | None) -> DrillRequest:
    req: DrillRequest = _typed(raw, DrillRequest.from_dict, "drill request")
    return req


def encode_observation(obs: Observation) -> bytes:
    return encode({"up": obs.up, "at": obs.at, "reason": obs.reason})


def decode_observation(raw: bytes | None, controller: str, group: str, instance: str) -> Observation:
    doc = decode(raw)
    up, at, reason = doc.get("up"), doc.get("at"), doc.get("reason", "")
    if not isinstance(up, bool):
        raise Undecodable("observation: 'up' must be true or false")
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
        raise Undecodable("observation: 'at' must be a number")
    if not isinstance(reason, str):
        raise Undecodable("observation: 'reason' must be a string")
    return Observation(controller, group, instance, up, float(at), reason)


def controller_id_of(raw: bytes | None) -> str | None:
    """The `id` in a leader or controller znode, None when absent or garbage."""
    try:
        cid = decode(raw).get("id")
    except Undecodable:
        return None
    return cid if isinstance(cid, str) and cid else None


# --------------------------------------------------------------- journal rules


def merge_group_state(ours: GroupState, seen: GroupState, current: GroupState) -> GroupState:
    """What the leader writes when the stored state changed since it read `seen`.

    The leader owns every field except the operator's `failover ack`: if a block
    it saw was cleared meanwhile, the ack wins, keeping only failovers the leader
    added after its read (so the flap window restarts from the ack).
    """
    acked = seen.blocked and not current.blocked
    if not acked:
        return ours
    added = tuple(t for t in ours.recent_failovers if t not in seen.recent_failovers)
    return replace(
        ours, blocked=False, blocked_reason="",
        recent_failovers=tuple(current.recent_failovers) + added,
    )


def acked(state: GroupState) -> GroupState:
    """The state after `failover ack`: unblocked, flap window restarted."""
    return replace(state, blocked=False, blocked_reason="", recent_failovers=())


@dataclass(frozen=True)
class RecordSummary:
    id: str
    started_at: float
    finished: bool


def prunable(records: Iterable[RecordSummary], keep: int) -> list[str]:
    """Ids to delete so a group keeps its newest `keep` records; running ones stay."""
    if keep < 1:
        raise ValueError(f"retention: must be >= 1, got {keep}")
    ordered = sorted(records, key=lambda r: (r.started_at, r.id), reverse=True)
    return [r.id for r in ordered[keep:] if r.finished]


def newest_first(records: Sequence[FailoverRecord], limit: int) -> list[FailoverRecord]:
    if limit < 0:
        raise ValueError(f"limit: must be >= 0, got {limit}")
    return sorted(records, key=lambda r: (r.started_at, r.id), reverse=True)[:limit]
