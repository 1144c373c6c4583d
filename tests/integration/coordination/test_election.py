"""Leader election: exactly one leader, a new one after the old session ends, clean resignation."""

from __future__ import annotations

import time

import pytest

from failover.coordination import connect
from failover.model import NotLeader
from harness.procs import ReplicaProc, start_replica
from harness.waiting import wait_for
from harness.zk import ZkCluster
from tests.integration.coordination.helpers import (
    SESSION_S,
    expire_session,
    leaders,
    one_leader,
    replicas,
    zk_config,
)


def test_exactly_one_leader_among_three(zk_server: ZkCluster, zk_root: str) -> None:
    with replicas(zk_server.hosts, zk_root, ["a", "b", "c"]) as reps:
        leader = wait_for(lambda: one_leader(reps), what="a leader")
        time.sleep(0.5)  # let every follower settle: still exactly one
        assert leaders(reps) == [leader]
        token = reps[leader].leadership.fence()
        assert token.controller_id == leader and token.epoch >= 1
        for cid, rep in reps.items():
            assert rep.leadership.leader_id() == leader
            assert rep.leadership.controllers() == ["a", "b", "c"]
            if cid != leader:
                with pytest.raises(NotLeader):
                    rep.leadership.fence()


def test_expired_leader_session_yields_a_new_leader_in_time(zk_server: ZkCluster, zk_root: str) -> None:
    with replicas(zk_server.hosts, zk_root, ["a", "b", "c"]) as reps:
        old = wait_for(lambda: one_leader(reps), what="a leader")
        old_epoch = reps[old].leadership.fence().epoch
        expire_session(zk_server.hosts, reps[old])
        t0 = time.monotonic()
        new = wait_for(lambda: next((c for c in leaders(reps) if c != old), None),
                       timeout=SESSION_S + 1.0, what="a new leader within session timeout + 1 s",
                       interval=0.005)
        took = time.monotonic() - t0
        assert took <= SESSION_S + 1.0
        assert reps[new].leadership.fence().epoch > old_epoch
        # The old leader learns its session is gone, stops believing it leads, and follows.
        wait_for(lambda: not reps[old].leadership.is_leader(), what="old leader to step down")
        wait_for(lambda: reps[old].registry.registered(), what="old leader to re-register")
        assert leaders(reps) == [new]


def test_graceful_close_releases_leadership_at_once(zk_server: ZkCluster, zk_root: str) -> None:
    with replicas(zk_server.hosts, zk_root, ["a", "b"], session_s=10.0) as reps:
        first = wait_for(lambda: one_leader(reps), what="a leader")
        other = "b" if first == "a" else "a"
        reps.pop(first).close()
        # Far sooner than the 10 s session timeout: the leader znode went with close().
        wait_for(lambda: reps[other].leadership.is_leader(), timeout=3.0, what="takeover after close")


def test_killed_leader_process_replaced_within_session_timeout(
    zk_server: ZkCluster, zk_root: str
) -> None:
    """SIGKILL the leader's process: no close, its session must time out on the server."""
    reps = {cid: start_replica(zk_server.hosts, zk_root, cid, SESSION_S) for cid in "abc"}
    try:
        leader = wait_for(lambda: _drain_leader(reps), timeout=20, what="a leader process")
        reps[leader].kill()
        killed_at = time.monotonic()
        rest = {c: r for c, r in reps.items() if c != leader}
        new = wait_for(lambda: _drain_leader(rest), timeout=SESSION_S + 5, what="a new leader")
        ev_t = rest[new].last_leader_t
        assert ev_t - killed_at <= SESSION_S + 1.0
        assert sum(r.leading for r in rest.values()) == 1
    finally:
        for r in reps.values():
            r.kill()


def test_restart_with_same_id_waits_for_the_killed_session(zk_server: ZkCluster, zk_root: str) -> None:
    """A killed process's ephemerals linger; its successor with the same id must not lead on them."""
    old = start_replica(zk_server.hosts, zk_root, "a", SESSION_S)
    try:
        wait_for(lambda: _drain_leader({"a": old}), timeout=20, what="a to lead")
    finally:
        old.kill()
    new = connect(zk_config(zk_server.hosts, zk_root), "a")
    try:
        new.join()
        assert new.leadership.leader_id() == "a"  # the dead process's znode, by id
        time.sleep(SESSION_S / 2)
        assert not new.leadership.is_leader()  # ...but owned by a session that is not ours
        assert not new.registry.registered()
        wait_for(new.leadership.is_leader, timeout=SESSION_S + 2, what="restarted a to lead")
        assert new.registry.registered()
    finally:
        new.close()


def _drain_leader(reps: dict[str, ReplicaProc]) -> str | None:
    for r in reps.values():
        while (ev := r.next_event(0)) is not None:
            if ev["event"] == "leader":
                r.last_leader_t = ev["t"]
    found = [c for c, r in reps.items() if r.leading]
    return found[0] if len(found) == 1 else None
