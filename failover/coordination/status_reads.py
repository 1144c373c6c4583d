"""What the status document needs of the journal: O(groups) reads, or none from the mirror.

`history(group, limit=1)` reads every retained record of a group (up to `retention`, 200 by
default), so a status of 1,000 groups cost ~200k reads, queued on the same session as the
leader's fenced writes. Here a status reads, for all groups at once: the group states (one
read each), each group's record names (one listing each) and only its newest record (one
read each; ids carry their start in milliseconds), plus the running index: about three reads
per group in four pipelined rounds, whatever the retention (`StatusReads`, for the CLI).
A replica serving /status keeps the group states mirrored by watches, each with its last
finished failover, and reads only the running index per document (`StatusMirror`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kazoo.exceptions import NoNodeError
from kazoo.recipe.cache import TreeCache, TreeEvent

from failover.coordination.codec import Undecodable, decode_group_state, decode_record
from failover.coordination.journal import ZkJournal
from failover.coordination.session import ZkSession
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


class StatusView:
    """One status document's journal as read for it, by the mirror or by `StatusReads`
    (implements `ports.JournalReader`)."""

    def __init__(self, journal: ZkJournal, states: dict[str, GroupState | JournalCorrupt],
                 latest: dict[str, FailoverRecord | None], unfinished: list[FailoverRecord]) -> None:
        self._journal = journal
        self._states = states
        self._latest = latest
        self._unfinished = unfinished

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


class StatusReads(StatusView):
    """A journal seen once for one status document, read here (the CLI's `status`)."""

    def __init__(self, coord: ZkSession, journal: ZkJournal, groups: list[str]) -> None:
        lay = coord.layout
        self.reads = 0
        states: dict[str, GroupState | JournalCorrupt] = {}
        for g, got in zip(groups, self._many(coord, [lay.group(g) for g in groups]), strict=True):
            states[g] = self._state(lay.group(g), got)
        lists = coord.many(coord.client.get_children_async, [(lay.journal_group(g),) for g in groups])
        self.reads += len(groups)
        newest: dict[str, str] = {}
        for g, names in zip(groups, lists, strict=True):
            if isinstance(names, list) and names:
                newest[g] = max(names, key=lambda n: (started_ms(n) or -1, n))
        chosen = list(newest)
        latest: dict[str, FailoverRecord | None] = dict.fromkeys(groups)
        got_records = self._many(coord, [lay.record(g, newest[g]) for g in chosen])
        for g, got in zip(chosen, got_records, strict=True):
            if isinstance(got, Exception):
                continue
            try:
                latest[g] = decode_record(got[0])
            except Undecodable:
                found = journal.history(g, limit=1)  # rare: read that group in full
                latest[g] = found[0] if found else None
        super().__init__(journal, states, latest, journal.unfinished())

    def _many(self, coord: ZkSession, paths: list[str]) -> list[Any]:
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

def _kept(state: GroupState | JournalCorrupt) -> FailoverRecord | None:
    return state.last_failover if isinstance(state, GroupState) else None


def _newest(*candidates: FailoverRecord | None) -> FailoverRecord | None:
    found = [c for c in candidates if c is not None]
    return max(found, key=lambda r: (r.started_at, r.id)) if found else None


class StatusMirror:
    """The group states kept in memory by watches (kazoo's TreeCache over `groups/`).

    A replica's /status then reads ZooKeeper only for the running failovers: the last
    finished failover is kept in each group's state, the running one comes from the running
    index. Groups whose state has no last failover yet (written before this version) are
    looked up in the journal once per process. Until the mirror has loaded, a status falls
    back to `StatusReads`.
    """

    def __init__(self, coord: ZkSession, journal: ZkJournal) -> None:
        self._coord = coord
        self._journal = journal
        self._lock = threading.Lock()
        self._tree: Any = None
        self._ready = threading.Event()
        self._decoded: dict[str, tuple[int, GroupState | JournalCorrupt]] = {}
        self._backfill: dict[str, FailoverRecord | None] = {}
        self.reads = 0

    def close(self) -> None:
        with self._lock:
            tree, self._tree = self._tree, None
        if tree is not None:
            tree.close()

    def view(self, groups: list[str], pace: Callable[[], None] = lambda: None) -> StatusView:
        """`pace` is called after each group's state (a rebuild yielding to request threads)."""
        self._start()
        if not self._ready.wait(self._coord.op_timeout_s):
            reads = StatusReads(self._coord, self._journal, groups)
            self.reads = reads.reads
            return reads
        lay = self._coord.layout
        states: dict[str, GroupState | JournalCorrupt] = {}
        for g in groups:
            states[g] = self._state(lay.group(g))
            pace()
        legacy = [g for g in groups if g not in self._backfill and _kept(states[g]) is None]
        self.reads = 0
        if legacy:  # once per group and process: the journal's own newest record
            found = StatusReads(self._coord, self._journal, legacy)
            self.reads = found.reads
            for g in legacy:
                newest = found.history(g, 1)
                self._backfill[g] = newest[0] if newest else None
        unfinished = self._journal.unfinished()
        running = {r.group: r for r in unfinished}
        latest = {g: _newest(_kept(states[g]), running.get(g), self._backfill.get(g)) for g in groups}
        return StatusView(self._journal, states, latest, unfinished)

    def _state(self, path: str) -> GroupState | JournalCorrupt:
        node = self._tree.get_data(path)
        if node is None:
            return GroupState(path.rsplit("/", 1)[1])
        stamp = int(node.stat.mzxid)
        cached = self._decoded.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            state: GroupState | JournalCorrupt = decode_group_state(node.data)
        except Undecodable as e:
            state = JournalCorrupt(f"{path}: {e}")
        self._decoded[path] = (stamp, state)
        return state

    def _start(self) -> None:
        with self._lock:
            if self._tree is not None:
                return
            self._coord.ensure_path(self._coord.layout.groups)
            self._tree = TreeCache(self._coord.client, self._coord.layout.groups)
            self._tree.listen(self._on_event)
            self._tree.listen_fault(lambda e: log.warning("group state cache: %r", e))
            self._tree.start()

    def _on_event(self, event: Any) -> None:
        if event.event_type == TreeEvent.INITIALIZED:
            self._ready.set()
