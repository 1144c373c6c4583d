"""Drill requests: the CLI writes one, the leader claims it exactly once (`ports.Requests`).

`requests/<id>` holds the request; the first create of `requests/<id>/claim`
wins, and that create is fenced (same transaction as the epoch check), so a
deposed leader can neither claim nor double-run. `requests/<id>/result` tells
the CLI which failover to follow. Unclaimed requests past `expires_at` are
deleted by the leader; answered ones are kept `keep_s` longer for the CLI.
Results and deletes are fenced like the claim (`fence`: the leadership's check),
so a deposed leader can neither overwrite a result nor sweep a request.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError, NotEmptyError

from failover.coordination.codec import Undecodable, decode, decode_request, encode
from failover.coordination.fencing import fenced_commit
from failover.coordination.layout import check_name
from failover.coordination.session import ZkSession
from failover.model import NotLeader
from failover.records import DrillRequest, FencingToken, RequestStatus

log = logging.getLogger(__name__)


class ZkRequests:
    def __init__(
        self, coord: ZkSession, keep_s: float = 3600.0,
        now: Callable[[], float] = time.time,
        fence: Callable[[], FencingToken] | None = None,
    ) -> None:
        self._coord = coord
        self._keep_s = keep_s
        self._now = now
        self._fence = fence
        self._claimed: dict[str, float] = {}  # request id -> when the sweep deletes it (`pending`)

    def submit(self, request: DrillRequest) -> None:
        coord = self._coord
        check_name("group", request.group)
        if request.expires_at <= request.created_at:
            raise ValueError("expires_at: must be after created_at")
        coord.ensure_path(coord.layout.requests)
        try:
            coord.call(coord.client.create_async, coord.layout.request(request.id),
                       encode(request.to_dict()))
        except NodeExistsError:
            raise ValueError(f"request id {request.id!r} already exists") from None

    def pending(self) -> list[DrillRequest]:
        """Unexpired, unclaimed requests, oldest first; sweeps expired ones. A request seen
        claimed is not read again (a claim is never taken back): answered ones are kept
        `keep_s` for the CLI, and the leader asks every tick, so each kept request cost a read
        a tick (20 a second) until its hour was up."""
        coord = self._coord
        ids = coord.children(coord.layout.requests)
        now = self._now()
        listed = set(ids)
        self._claimed = {i: at for i, at in self._claimed.items() if i in listed}
        for rid, gone_at in self._claimed.items():  # `_delete` leaves the dict as it is
            if now >= gone_at:
                self._delete(rid)
        ids = [i for i in ids if i not in self._claimed]
        got = coord.many(coord.client.get_async, [(coord.layout.request(i),) for i in ids])
        out = []
        for rid, res in zip(ids, got, strict=True):
            if isinstance(res, NoNodeError):
                continue
            if isinstance(res, Exception):
                raise res
            data, stat = res
            try:
                req = decode_request(data)
            except Undecodable as e:
                log.warning("deleting unreadable drill request %s: %s", rid, e)
                self._delete(rid)
                continue
            claimed = int(stat.numChildren) > 0
            if claimed:
                self._claimed[rid] = req.expires_at + self._keep_s
            if now >= req.expires_at + (self._keep_s if claimed else 0.0):
                self._delete(rid)
            elif not claimed and now < req.expires_at:
                out.append(req)
        return sorted(out, key=lambda r: (r.created_at, r.id))

    def claim(self, request_id: str, token: FencingToken) -> bool:
        coord = self._coord
        found = coord.get_or_none(coord.layout.request(request_id))
        if found is None:
            return False
        try:
            if self._now() >= decode_request(found[0]).expires_at:
                return False
        except Undecodable:
            return False
        body = encode({"controller": token.controller_id, "epoch": token.epoch, "at": self._now()})

        def ops(tx: Any) -> None:
            tx.create(coord.layout.claim(request_id), body)

        try:
            fenced_commit(coord, token, ops, f"claim request {request_id}")
        except (NodeExistsError, NoNodeError):
            return False
        log.info("claimed drill request %s", request_id, extra={"epoch": token.epoch})
        return True

    def unanswered(self) -> list[DrillRequest]:
        """Claimed requests with no result, oldest first (the leader answers them: see
        `engine/orphans.py`)."""
        coord = self._coord
        ids = coord.children(coord.layout.requests)
        kids = coord.many(coord.client.get_children_async, [(coord.layout.request(i),) for i in ids])
        claim, result = (p.rsplit("/", 1)[1] for p in (coord.layout.claim("x"), coord.layout.result("x")))
        left = [i for i, k in zip(ids, kids, strict=True)
                if isinstance(k, list) and claim in k and result not in k]
        got = coord.many(coord.client.get_async, [(coord.layout.request(i),) for i in left])
        out = []
        for res in got:
            if isinstance(res, NoNodeError):
                continue
            if isinstance(res, Exception):
                raise res
            with contextlib.suppress(Undecodable):  # pending()'s sweep deletes it
                out.append(decode_request(res[0]))
        return sorted(out, key=lambda r: (r.created_at, r.id))

    def settle(self, request_id: str, failover_id: str | None, message: str) -> bool:
        """Writes a result where none is (fenced like `set_result`); True if this one wrote it.
        Never overwrites: a failover's own run may have answered meanwhile."""
        coord = self._coord
        path = coord.layout.result(request_id)
        body = encode({"failover_id": failover_id, "message": message, "at": self._now()})
        try:
            if self._fence is None:
                coord.call(coord.client.create_async, path, body)
            else:
                fenced_commit(coord, self._fence(), lambda tx: tx.create(path, body), f"result of {path}")
        except (NodeExistsError, NoNodeError):  # answered meanwhile, or the request is gone
            return False
        return True

    def set_result(self, request_id: str, failover_id: str | None, message: str) -> None:
        """Raises NotLeader (StaleEpoch) when this replica may not write it any more."""
        coord = self._coord
        path = coord.layout.result(request_id)
        body = encode({"failover_id": failover_id, "message": message, "at": self._now()})
        for _ in range(3):  # NodeExists / BadVersion: the result changed between read and write
            try:
                self._write_result(path, body)
                return
            except (NodeExistsError, BadVersionError):
                continue
            except NoNodeError:
                log.warning("drill request %s vanished before its result was written", request_id)
                return
        raise NotLeader(f"drill request {request_id}: its result kept changing under us")

    def _write_result(self, path: str, body: bytes) -> None:
        coord = self._coord
        found = coord.get_or_none(path)
        if self._fence is None:  # a session that never leads (tests, tools)
            if found is None:
                coord.call(coord.client.create_async, path, body)
            else:
                coord.call(coord.client.set_async, path, body)
            return

        def ops(tx: Any) -> None:
            if found is None:
                tx.create(path, body)
            else:
                tx.set_data(path, body, version=found[1].version)

        fenced_commit(coord, self._fence(), ops, f"result of {path}")

    # ----------------------------------------------------------- CLI side

    def status(self, request_id: str) -> RequestStatus:
        coord = self._coord
        if coord.get_or_none(coord.layout.request(request_id)) is None:
            return RequestStatus(exists=False)
        claim = coord.get_or_none(coord.layout.claim(request_id))
        result = coord.get_or_none(coord.layout.result(request_id))
        claimed_by = _field(claim, "controller")
        if result is None:
            return RequestStatus(True, claimed_by)
        return RequestStatus(True, claimed_by, _field(result, "failover_id"),
                             _field(result, "message") or "")

    def wait_for_result(self, request_id: str, timeout: float) -> RequestStatus:
        """Blocks until the leader answers, the request is gone, or `timeout` passes."""
        check_name("request id", request_id)
        changed = threading.Event()
        deadline = time.monotonic() + timeout
        while True:
            changed.clear()
            st = self.status(request_id)
            if st.answered or not st.exists:
                return st
            left = deadline - time.monotonic()
            if left <= 0:
                return st
            # Watches wake us early; the bound covers a change between status() and here.
            coord = self._coord
            for path in (coord.layout.claim(request_id), coord.layout.result(request_id)):
                coord.call(coord.client.exists_async, path, watch=lambda _e: changed.set())
            changed.wait(min(left, 1.0))

    def _delete(self, request_id: str) -> None:
        coord = self._coord
        if self._fence is None:
            # NotEmpty: a claim or result landed meanwhile; the next sweep decides again.
            with contextlib.suppress(NotEmptyError):
                coord.delete_tree(coord.layout.request(request_id))
            return
        try:
            token = self._fence()
        except NotLeader:
            return  # only the leader sweeps
        path = coord.layout.request(request_id)
        kids = coord.children(path)

        def ops(tx: Any) -> None:
            for k in kids:
                tx.delete(f"{path}/{k}")
            tx.delete(path)

        # NotEmpty / NoNode: a claim or result landed, or another sweep won: decide next time.
        with contextlib.suppress(NotEmptyError, NoNodeError):
            fenced_commit(coord, token, ops, f"delete request {request_id}")


def _field(found: tuple[bytes, Any] | None, key: str) -> str | None:
    if found is None:
        return None
    try:
        value = decode(found[0]).get(key)
    except Undecodable:
        return None
    return None if value is None else str(value)
