"""The write-ahead failover journal and per-group state (implements `ports.Journal`).

Every leader write is a fenced transaction (see fencing.py) and, for a record
that already exists, also checks the record's own version, so two writers can
never interleave on one record. A record's epoch field is the epoch of the
leader that last wrote it. Indexes written in the same transactions:
`journal-ids/<id>` (find by id) and `journal-running/<id>` (what a new leader
must resume). Finished records beyond `retention` per group are pruned.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from typing import Any

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

from failover.coordination.codec import (
    RecordSummary,
    Undecodable,
    acked,
    decode_group_state,
    decode_record,
    encode,
    merge_group_state,
    newest_first,
    prunable,
)
from failover.coordination.fencing import fenced_commit
from failover.coordination.session import ZkSession
from failover.model import JournalCorrupt, NotLeader
from failover.records import FailoverRecord, FencingToken, GroupState

log = logging.getLogger(__name__)
DEFAULT_RETENTION = 200
_MAX_TX_OPS = 100


class ZkJournal:
    def __init__(self, coord: ZkSession, retention: int = DEFAULT_RETENTION) -> None:
        if retention < 1:
            raise ValueError(f"retention: must be >= 1, got {retention}")
        self._coord = coord
        self._retention = retention
        self._versions: dict[str, int] = {}  # record path -> version we last read or wrote
        # Records known finished (read or written so): final. A stale in-memory copy of one,
        # whose version the cache may hold from this process's own last write, never
        # overwrites it (it would re-open a completed failover).
        self._finished: set[str] = set()
        self._seen_groups: dict[str, tuple[GroupState, int]] = {}

    # ------------------------------------------------------------ records

    def begin(self, record: FailoverRecord, token: FencingToken) -> None:
        coord, lay = self._coord, self._coord.layout
        rec = replace(record, epoch=token.epoch)
        path = lay.record(rec.group, rec.id)
        for parent in (lay.journal_group(rec.group), lay.journal_ids, lay.running):
            coord.ensure_path(parent)
        group = rec.group.encode()

        def ops(tx: Any) -> None:
            tx.create(path, encode(rec.to_dict()))
            tx.create(lay.journal_id(rec.id), group)
            tx.create(lay.running_entry(rec.id), group)

        try:
            fenced_commit(coord, token, ops, f"journal begin {rec.id}")
        except NodeExistsError:
            raise ValueError(f"failover id {rec.id!r} is already in the journal") from None
        self._versions[path] = 0

    def update(self, record: FailoverRecord, token: FencingToken) -> None:
        coord, lay = self._coord, self._coord.layout
        rec = replace(record, epoch=token.epoch)
        path = lay.record(rec.group, rec.id)
        version = self._versions.get(path)
        if version is None:
            found = coord.get_or_none(path)
            if found is None:
                raise NotLeader(f"journal record {path} is gone (journal reset?); not acting")
            version = int(found[1].version)
            self._note(path, found[0])
        if path in self._finished:
            raise NotLeader(f"journal record {path} is already finished; not writing a stale copy")
        running = rec.finished and coord.get_or_none(lay.running_entry(rec.id)) is not None

        def ops(tx: Any) -> None:
            tx.set_data(path, encode(rec.to_dict()), version=version)
            if running:
                tx.delete(lay.running_entry(rec.id))

        try:
            results = fenced_commit(coord, token, ops, f"journal update {rec.id}")
        except BadVersionError:
            self._versions.pop(path, None)
            raise NotLeader(f"journal record {path} changed under us; not acting") from None
        except NoNodeError:
            raise NotLeader(f"journal record {path} is gone (journal reset?); not acting") from None
        self._versions[path] = int(results[0].version)
        if rec.finished:
            self._finished.add(path)
            self._prune(rec.group, token)

    def get(self, failover_id: str) -> FailoverRecord | None:
        coord, lay = self._coord, self._coord.layout
        index = coord.get_or_none(lay.journal_id(failover_id))
        if index is None:
            return None
        group = index[0].decode("utf-8", "replace")
        path = lay.record(group, failover_id)
        found = coord.get_or_none(path)
        if found is None:
            return None
        try:
            rec = decode_record(found[0])
        except Undecodable as e:
            raise JournalCorrupt(f"{path}: {e}") from None
        self._versions[path] = int(found[1].version)
        self._mark(path, rec)
        return rec

    def history(self, group: str | None = None, limit: int = 100) -> list[FailoverRecord]:
        coord, lay = self._coord, self._coord.layout
        groups = [group] if group is not None else coord.children(lay.journal)
        paths = [lay.journal_group(g) for g in groups]
        lists = coord.many(coord.client.get_children_async, [(p,) for p in paths])
        records = [f"{p}/{name}" for p, names in zip(paths, lists, strict=True)
                   if isinstance(names, list) for name in names]
        return newest_first(self._read_records(records), limit)

    def unfinished(self) -> list[FailoverRecord]:
        coord, lay = self._coord, self._coord.layout
        ids = coord.children(lay.running)
        groups = coord.many(coord.client.get_async, [(lay.running_entry(i),) for i in ids])
        paths = [lay.record(g[0].decode("utf-8", "replace"), i)
                 for i, g in zip(ids, groups, strict=True) if not isinstance(g, Exception)]
        recs = [r for r in self._read_records(paths, remember=True) if not r.finished]
        return sorted(recs, key=lambda r: r.started_at)

    def _read_records(self, paths: list[str], remember: bool = False) -> list[FailoverRecord]:
        out = []
        for path, got in zip(paths, self._coord.many(self._coord.client.get_async,
                                                     [(p,) for p in paths]), strict=True):
            if isinstance(got, NoNodeError):
                continue
            if isinstance(got, Exception):
                raise got
            try:
                out.append(decode_record(got[0]))
            except Undecodable as e:
                log.warning("skipping corrupt journal znode %s: %s "
                            "(see `failover journal inspect`)", path, e)
                continue
            if remember:
                self._versions[path] = int(got[1].version)
                self._mark(path, out[-1])
        return out

    def _mark(self, path: str, rec: FailoverRecord) -> None:
        if rec.finished:
            self._finished.add(path)
        else:
            self._finished.discard(path)

    def _note(self, path: str, raw: bytes) -> None:
        # Undecodable: the write replaces it; `journal inspect` shows what it was.
        with contextlib.suppress(Undecodable):
            self._mark(path, decode_record(raw))

    def _prune(self, group: str, token: FencingToken) -> None:
        coord, lay = self._coord, self._coord.layout
        names = coord.children(lay.journal_group(group))
        if len(names) <= self._retention:
            return
        paths = [f"{lay.journal_group(group)}/{n}" for n in names]
        summaries = []
        for name, got in zip(names, coord.many(coord.client.get_async, [(p,) for p in paths]),
                             strict=True):
            try:
                rec = decode_record(got[0]) if not isinstance(got, Exception) else None
            except Undecodable:
                rec = None  # corrupt ones are left for the operator to inspect
            if rec is not None:
                summaries.append(RecordSummary(name, rec.started_at, rec.finished))
        doomed = prunable(summaries, self._retention)
        for start in range(0, len(doomed), _MAX_TX_OPS // 2):
            chunk = doomed[start:start + _MAX_TX_OPS // 2]

            def ops(tx: Any, chunk: list[str] = chunk) -> None:
                for fid in chunk:
                    tx.delete(lay.record(group, fid))
                    tx.delete(lay.journal_id(fid))

            try:
                fenced_commit(coord, token, ops, f"journal prune {group}")
            except NoNodeError:
                log.info("journal prune of %s raced a reset; skipped", group)
            for fid in chunk:
                self._versions.pop(lay.record(group, fid), None)
                self._finished.discard(lay.record(group, fid))

    # --------------------------------------------------------- group state

    def group_state(self, group: str) -> GroupState:
        state, version = self._read_group(group)
        self._seen_groups[group] = (state, version)
        return state

    def _read_group(self, group: str) -> tuple[GroupState, int]:
        path = self._coord.layout.group(group)
        found = self._coord.get_or_none(path)
        if found is None:
            return GroupState(group), -1
        try:
            return decode_group_state(found[0]), int(found[1].version)
        except Undecodable as e:
            raise JournalCorrupt(f"{path}: {e}") from None

    def set_group_state(self, state: GroupState, token: FencingToken) -> None:
        coord = self._coord
        path = coord.layout.group(state.group)
        coord.ensure_path(coord.layout.groups)
        for _ in range(5):
            current, version = self._read_group(state.group)
            seen = self._seen_groups.get(state.group)
            merged = state
            if seen is not None and seen[1] != version:
                merged = merge_group_state(state, seen[0], current)
            data = encode(merged.to_dict())

            def ops(tx: Any, data: bytes = data, version: int = version) -> None:
                if version < 0:
                    tx.create(path, data)
                else:
                    tx.set_data(path, data, version=version)

            try:
                results = fenced_commit(coord, token, ops, f"group state {state.group}")
            except (BadVersionError, NodeExistsError, NoNodeError):
                continue  # an operator's ack raced us: merge again
            new_version = 0 if version < 0 else int(results[0].version)
            self._seen_groups[state.group] = (merged, new_version)
            return
        raise NotLeader(f"group state {state.group}: kept changing under us; not acting")

    def ack(self, group: str) -> bool:
        """An operator action: needs no epoch, only a versioned write of its own."""
        coord = self._coord
        path = coord.layout.group(group)
        for _ in range(10):
            state, version = self._read_group(group)
            if version < 0 or not state.blocked:
                return False
            try:
                coord.call(coord.client.set_async, path, encode(acked(state).to_dict()),
                           version=version)
            except BadVersionError:
                continue
            log.info("group %s unblocked by ack", group)
            return True
        raise RuntimeError(f"ack {group}: the group state kept changing; try again")
