"""`failover journal inspect | reset`: the operator's raw view of the journal, corrupt parts included.

Read and delete only; never touches the epoch znode (resetting it would let a
deposed leader's token look current again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from failover.coordination.codec import Undecodable, decode_group_state, decode_record
from failover.coordination.layout import check_name
from failover.coordination.session import ZkSession


@dataclass(frozen=True)
class JournalEntry:
    path: str
    kind: str  # record | group | running | index
    ok: bool
    raw: str  # the bytes as text, for a human to read
    error: str | None = None
    running: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "ok": self.ok, "raw": self.raw,
                "error": self.error, "running": self.running}


def inspect(coord: ZkSession) -> list[JournalEntry]:
    lay = coord.layout
    running = set(coord.children(lay.running))
    out: list[JournalEntry] = []
    for group in coord.children(lay.journal):
        gpath = f"{lay.journal}/{group}"
        for name in coord.children(gpath):
            found = coord.get_or_none(f"{gpath}/{name}")
            if found is None:
                continue
            err = _error(decode_record, found[0])
            out.append(JournalEntry(f"{gpath}/{name}", "record", err is None, _text(found[0]),
                                    err, name in running))
    for name in sorted(running):
        found = coord.get_or_none(f"{lay.running}/{name}")
        if found is not None and coord.get_or_none(
                f"{lay.journal}/{found[0].decode('utf-8', 'replace')}/{name}") is None:
            out.append(JournalEntry(f"{lay.running}/{name}", "running", False, _text(found[0]),
                                    "running entry without its record", True))
    for group in coord.children(lay.groups):
        found = coord.get_or_none(f"{lay.groups}/{group}")
        if found is not None:
            err = _error(decode_group_state, found[0])
            out.append(JournalEntry(f"{lay.groups}/{group}", "group", err is None,
                                    _text(found[0]), err))
    return out


def reset(coord: ZkSession, failover_id: str | None = None, *, groups: bool = False) -> int:
    """Deletes one failover (any state, corrupt or not) or, with None, the whole journal.

    `groups=True` also forgets every group's state (holder, cooldown, block).
    Returns how many znodes were deleted.
    """
    lay = coord.layout
    if failover_id is None:
        count = sum(coord.delete_tree(p) for p in (lay.running, lay.journal, lay.journal_ids))
        return count + (coord.delete_tree(lay.groups) if groups else 0)
    check_name("failover id", failover_id)
    count = 0
    for group in coord.children(lay.journal):
        count += coord.delete_tree(lay.record(group, failover_id))
    count += coord.delete_tree(lay.journal_id(failover_id))
    return count + coord.delete_tree(lay.running_entry(failover_id))


def _error(decoder: Any, raw: bytes) -> str | None:
    try:
        decoder(raw)
    except Undecodable as e:
        return str(e)
    return None


def _text(raw: bytes | None) -> str:
    return (raw or b"").decode("utf-8", "replace")
