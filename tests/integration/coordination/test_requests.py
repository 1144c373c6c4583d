"""Drill requests: submitted from anywhere, claimed exactly once across leaders, answered, expired."""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

import pytest

from failover.coordination import ZkRequests, connect
from failover.engine.orphans import NOT_STARTED, OrphanSweep
from failover.model import NotLeader, StaleEpoch, Trigger
from failover.records import DrillRequest, FailoverRecord, FencingToken, RequestStatus
from harness.waiting import wait_for
from harness.zk import ZkCluster
from tests.integration.coordination.helpers import expire_session, leaders, one_leader, replicas, zk_config


def drill(rid: str, ttl: float = 60.0, created: float | None = None) -> DrillRequest:
    t = time.time() if created is None else created
    return DrillRequest(id=rid, group="web", to_instance="i-b", created_at=t, expires_at=t + ttl,
                        requested_by="test")


def test_claim_once_answer_and_follow(zk_server: ZkCluster, zk_root: str) -> None:
    with replicas(zk_server.hosts, zk_root, ["a"]) as reps:
        leader = reps["a"]
        tok = wait_for(leader.leadership.fence, what="a token")
        cli = connect(zk_config(zk_server.hosts, zk_root), "cli")  # the CLI: no join
        try:
            base = time.time()
            cli.requests.submit(drill("r2", created=base + 1))
            cli.requests.submit(drill("r1", created=base))
            with pytest.raises(ValueError, match="already exists"):
                cli.requests.submit(drill("r1"))
            assert [r.id for r in leader.requests.pending()] == ["r1", "r2"]
            answered: list[RequestStatus] = []
            waiter = threading.Thread(
                target=lambda: answered.append(cli.requests.wait_for_result("r1", 10.0)))
            waiter.start()
            assert leader.requests.claim("r1", tok) is True
            assert leader.requests.claim("r1", tok) is False
            assert [r.id for r in leader.requests.pending()] == ["r2"]
            assert cli.requests.status("r1").claimed_by == "a"
            leader.requests.set_result("r1", "f-123", "started")
            waiter.join(10)
            st = answered[0]
            assert st.answered and st.failover_id == "f-123" and st.message == "started"
        finally:
            cli.close()


def test_expired_requests_are_not_run_and_are_swept(zk_server: ZkCluster, zk_root: str) -> None:
    with replicas(zk_server.hosts, zk_root, ["a"]) as reps:
        tok = wait_for(reps["a"].leadership.fence, what="a token")
        reps["a"].requests.submit(drill("old", ttl=0.2))
        time.sleep(0.3)
        assert reps["a"].requests.claim("old", tok) is False
        assert reps["a"].requests.pending() == []
        assert not reps["a"].requests.status("old").exists
        assert reps["a"].requests.wait_for_result("old", 1.0).exists is False


def test_drill_claimed_exactly_once_when_two_leaders_overlap(zk_server: ZkCluster, zk_root: str) -> None:
    with replicas(zk_server.hosts, zk_root, ["a", "b"]) as reps:
        old = wait_for(lambda: one_leader(reps), what="a leader")
        new = "b" if old == "a" else "a"
        stale = reps[old].leadership.fence()
        reps[new].requests.submit(drill("r1"))
        assert [r.id for r in reps[old].requests.pending()] == ["r1"]  # the old leader saw it...
        expire_session(zk_server.hosts, reps[old])
        fresh = wait_for(reps[new].leadership.fence, what="the new leader's token")
        wait_for(lambda: reps[old].session.connected, what="old leader reconnected")
        # ...and both now try to run it at the same moment.
        results: dict[str, object] = {}
        barrier = threading.Barrier(2)

        def attempt(cid: str, tok: FencingToken) -> None:
            barrier.wait()
            try:
                results[cid] = reps[cid].requests.claim("r1", tok)
            except NotLeader as e:
                results[cid] = e

        threads = [threading.Thread(target=attempt, args=(old, stale)),
                   threading.Thread(target=attempt, args=(new, fresh))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert isinstance(results[old], StaleEpoch)
        assert results[new] is True
        assert reps[new].requests.claim("r1", fresh) is False
        assert leaders(reps) == [new]


def test_drill_runs_exactly_once_through_leader_changes(zk_server: ZkCluster, zk_root: str) -> None:
    """Three replicas run a drill loop; the leader's session is killed while requests flow."""
    executed: list[tuple[str, str]] = []
    lock = threading.Lock()
    stop = threading.Event()
    with replicas(zk_server.hosts, zk_root, ["a", "b", "c"]) as reps:

        def loop(cid: str) -> None:
            rep, orphans = reps[cid], OrphanSweep()
            while not stop.is_set():
                try:
                    # As the engine's tick: a claim whose claimer lost office before its answer
                    # (a session expired between the two) is answered by the next leader.
                    if rep.leadership.is_leader():
                        orphans.run_if_due(time.monotonic(), rep.requests, rep.journal)
                    for req in rep.requests.pending():
                        tok = rep.leadership.fence()
                        if rep.requests.claim(req.id, tok):
                            with lock:
                                executed.append((req.id, cid))
                            rep.requests.set_result(req.id, f"f-{req.id}", "done")
                except NotLeader:
                    pass
                except Exception:
                    pass  # connection churn during the expiry; the next pass retries
                time.sleep(0.01)

        threads = [threading.Thread(target=loop, args=(c,), daemon=True) for c in reps]
        for t in threads:
            t.start()
        cli_coord = connect(zk_config(zk_server.hosts, zk_root), "cli")
        cli: ZkRequests = cli_coord.requests
        for i in range(12):
            cli.submit(drill(f"r{i:02d}"))
            if i == 5:
                leader = wait_for(lambda: one_leader(reps), what="a leader")
                expire_session(zk_server.hosts, reps[leader])
            time.sleep(0.05)
        for i in range(12):
            def is_answered(i: int = i) -> bool:
                return cli.status(f"r{i:02d}").answered

            wait_for(is_answered, what=f"r{i:02d} answered")
            assert cli.status(f"r{i:02d}").message in ("done", NOT_STARTED)
        stop.set()
        for t in threads:
            t.join(5)
        cli_coord.close()
    ids = [rid for rid, _ in executed]
    assert sorted(ids) == [f"r{i:02d}" for i in range(12)]  # every one, none twice


def test_a_claim_left_unanswered_is_answered_by_the_next_leader(
    zk_server: ZkCluster, zk_root: str
) -> None:
    """The claimer lost office after its claim: before beginning the failover (r1), or after
    beginning it but before writing "started" (r2). The next leader answers both from the
    journal; an answered request (r3) is never overwritten."""
    with replicas(zk_server.hosts, zk_root, ["a", "b"]) as reps:
        old = wait_for(lambda: one_leader(reps), what="a leader")
        new = "b" if old == "a" else "a"
        token = reps[old].leadership.fence()
        for rid in ("r1", "r2", "r3"):
            reps[old].requests.submit(drill(rid))
            assert reps[old].requests.claim(rid, token)
        begun = FailoverRecord(id="f-2", group="web", from_instance="i-a", to_instance="i-b",
                               trigger=Trigger.DRILL, reason="drill", started_at=time.time(),
                               epoch=token.epoch, request_id="r2")
        reps[old].journal.begin(begun, token)
        reps[old].requests.set_result("r3", "f-3", "completed")
        assert [r.id for r in reps[new].requests.unanswered()] == ["r1", "r2"]
        expire_session(zk_server.hosts, reps[old])
        wait_for(reps[new].leadership.fence, what="the new leader's token")
        OrphanSweep().run_if_due(time.monotonic(), reps[new].requests, reps[new].journal)
        status = reps[new].requests.status
        assert (status("r1").failover_id, status("r1").message) == (None, NOT_STARTED)
        assert (status("r2").failover_id, status("r2").message) == ("f-2", "started")
        assert (status("r3").failover_id, status("r3").message) == ("f-3", "completed")
        assert reps[new].requests.unanswered() == []
        assert reps[new].requests.settle("r1", "f-9", "late") is False  # never overwrites


def test_a_deposed_leader_can_neither_overwrite_a_result_nor_sweep(
    zk_server: ZkCluster, zk_root: str
) -> None:
    with replicas(zk_server.hosts, zk_root, ["a", "b"]) as reps:
        old = wait_for(lambda: one_leader(reps), what="a leader")
        new = "b" if old == "a" else "a"
        reps[old].requests.submit(drill("r1"))
        reps[old].requests.submit(drill("gone", ttl=0.2))
        assert reps[old].requests.claim("r1", reps[old].leadership.fence())
        reps[old].requests.set_result("r1", "f-1", "started")
        expire_session(zk_server.hosts, reps[old])
        wait_for(reps[new].leadership.fence, what="the new leader's token")
        reps[new].requests.set_result("r1", "f-1", "completed")
        time.sleep(0.3)
        with pytest.raises(NotLeader):  # not the leader any more: refused before the write
            reps[old].requests.set_result("r1", "f-1", "failed")
        assert reps[new].requests.status("r1").message == "completed"
        reps[old].requests.pending()  # its sweep deletes nothing
        assert reps[new].requests.status("gone").exists
        reps[new].requests.pending()  # the leader's sweep does
        assert not reps[new].requests.status("gone").exists


def test_listing_an_absent_znode_leaves_no_garbage_for_the_collector(zk_server: ZkCluster,
                                                                       zk_root: str) -> None:
    """The leader lists `requests` and `pauses` every tick, absent until first used: each
    NoNodeError must be freed when it is caught, not left in a cycle for a full collection."""
    cli = connect(zk_config(zk_server.hosts, zk_root), "cli")
    try:
        path = f"{zk_root}/no-such-znode"
        cli.session.children(path)  # kazoo's first-use objects
        gc.collect()
        gc.disable()
        try:
            for _ in range(50):
                assert cli.session.children(path) == []
            unreachable = gc.collect()
        finally:
            gc.enable()
        assert unreachable < 50  # was ~25 objects per call (exception, traceback, frames, ...)
    finally:
        cli.close()


def test_a_claimed_request_is_read_once_and_still_swept(zk_server: ZkCluster, zk_root: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The leader asks for pending requests every tick; answered ones are kept `keep_s` for the
    CLI. Each was read again every tick until then: now a claimed one is read once."""
    with replicas(zk_server.hosts, zk_root, ["a"]) as reps:
        tok = wait_for(reps["a"].leadership.fence, what="a token")
        coord = reps["a"].session
        requests = ZkRequests(coord, keep_s=0.5, fence=reps["a"].leadership.fence)
        for rid in ("r1", "r2", "r3"):
            requests.submit(drill(rid, ttl=0.2))
        assert requests.claim("r1", tok) and requests.claim("r2", tok)
        read: list[int] = []
        many = coord.many

        def counted(fn: Any, args: list[tuple[Any, ...]]) -> list[Any]:
            read.append(len(args))
            return many(fn, args)

        monkeypatch.setattr(coord, "many", counted)
        assert [r.id for r in requests.pending()] == ["r3"]
        assert [r.id for r in requests.pending()] == ["r3"]
        assert read == [3, 1]  # the claimed two were read once
        time.sleep(0.8)  # past r3's expiry and the claimed ones' keep
        assert requests.pending() == []
        assert not any(requests.status(rid).exists for rid in ("r1", "r2", "r3"))
