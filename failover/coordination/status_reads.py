"""What the status document needs of the journal, read in a bounded number of pipelined rounds.

`history(group, limit=1)` reads every retained record of a group (up to `retention`, 200 by
default), so a status of 1,000 groups cost ~200k reads, queued on the same session as the
leader's fenced writes. Here a status reads, for all groups at once: the group states (one
read each), each group's record names (one listing each) and only its newest record (one
read each; ids carry their start in milliseconds), plus the running index: about three reads
per group in four pipelined rounds, whatever the retention.
"""

from __future__ import annotations

import logging
from typing import Any

from kazoo.exceptions import NoNodeError

from failover.coordination.codec import Undecodable, decode_group_state, decode_record
from failover.coordination.journal import ZkJournal
from failover.coordination.session import Coordinator
from failover.model import JournalCorrupt
from failover.records import FailoverRecord, GroupState

log = logging.getLogger(__name__)


def started_ms(failover_id: str) -> int | None:
    """The start a failover id carries (`<group>-<ms hex>-<random>`); None if it carries none."""
    parts = failover_id.rsplit("-", 2)
    if len(parts) != 3:
        return None
    try:
        return int(parts[1], 16)
    except ValueError:
        return None


class StatusReads:
    """A journal seen once for one status document (implements `ports.JournalReader`)."""

    def __init__(self, coord: Coordinator, journal: ZkJournal, groups: list[str]) -> None:
        self._journal = journal
        lay = coord.layout
        self.reads = 0
        self._states: dict[str, GroupState | JournalCorrupt] = {}
        for g, got in zip(groups, self._many(coord, [lay.group(g) for g in groups]), strict=True):
            self._states[g] = self._state(lay.group(g), got)
        lists = coord.many(coord.client.get_children_async, [(lay.journal_group(g),) for g in groups])
        self.reads += len(groups)
        newest: dict[str, str] = {}
        for g, names in zip(groups, lists, strict=True):
            if isinstance(names, list) and names:
                newest[g] = max(names, key=lambda n: (started_ms(n) or -1, n))
        chosen = list(newest)
        self._latest: dict[str, FailoverRecord | None] = dict.fromkeys(groups)
        got_records = self._many(coord, [lay.record(g, newest[g]) for g in chosen])
        for g, got in zip(chosen, got_records, strict=True):
            if isinstance(got, Exception):
                continue
            try:
                self._latest[g] = decode_record(got[0])
            except Undecodable:
                self._latest[g] = self._slow_latest(g)  # rare: read that group in full
        self._unfinished = journal.unfinished()

    def _many(self, coord: Coordinator, paths: list[str]) -> list[Any]:
        self.reads += len(paths)
        return coord.many(coord.client.get_async, [(p,) for p in paths])

    @staticmethod
    def _state(path: str, got: Any) -> GroupState | JournalCorrupt:
        if isinstance(got, NoNodeError):
            return GroupState(path.rsplit("/", 1)[1])
        if isinstance(got, Exception):
            raise got
        try:
            return decode_group_state(got[0])
        except Undecodable as e:
            return JournalCorrupt(f"{path}: {e}")

    def _slow_latest(self, group: str) -> FailoverRecord | None:
        found = self._journal.history(group, limit=1)
        return found[0] if found else None

    # ------------------------------------------------------------ reader port

    def group_state(self, group: str) -> GroupState:
        found = self._states.get(group)
        if found is None:
            return self._journal.group_state(group)
        if isinstance(found, JournalCorrupt):
            raise found
        return found

    def history(self, group: str | None = None, limit: int = 100) -> list[FailoverRecord]:
        if group is None or limit != 1 or group not in self._latest:
            return self._journal.history(group, limit)
        latest = self._latest[group]
        return [] if latest is None else [latest]

    def unfinished(self) -> list[FailoverRecord]:
        return list(self._unfinished)
