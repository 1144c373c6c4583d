"""The leader's lease and takeover grace against a real ZooKeeper, and resignation on a stale epoch."""

from __future__ import annotations

import json
import signal
import time

import pytest

from failover.coordination import Coordination
from failover.model import NotLeader, StaleEpoch
from failover.records import FencingToken, GroupState
from harness.procs import ReplicaProc, start_replica
from harness.waiting import wait_for
from harness.zk import ZkCluster
from tests.integration.coordination.helpers import SESSION_S, one_leader, raw_client, replicas


def test_a_live_leader_keeps_renewing_its_lease(zk_server: ZkCluster, zk_root: str) -> None:
    with replicas(zk_server.hosts, zk_root, ["a"]) as reps:
        wait_for(lambda: one_leader(reps), what="a leader")
        lead = reps["a"].leadership
        lease_s = lead.lease.times.lease_s
        deadline = time.monotonic() + 4 * lease_s
        while time.monotonic() < deadline:  # never a refusal over several leases
            lead.fence()
            time.sleep(0.05)
        assert lead.probe()


def test_a_leader_whose_probes_stop_refuses_within_its_lease(zk_server: ZkCluster, zk_root: str) -> None:
    with replicas(zk_server.hosts, zk_root, ["a"]) as reps:
        wait_for(lambda: one_leader(reps), what="a leader")
        lead = reps["a"].leadership
        lead._stop.set()  # the prober stands still, as in a stalled process
        time.sleep(lead.lease.times.lease_s + 0.1)
        with pytest.raises(NotLeader, match="lease expired"):
            lead.fence()
        assert reps["a"].session.connected  # the session itself is fine: only the lease ran out


def test_a_deleted_leader_znode_under_a_live_session_costs_the_next_leader_a_grace(
    zk_server: ZkCluster, zk_root: str
) -> None:
    with replicas(zk_server.hosts, zk_root, ["a", "b"]) as reps:
        old = wait_for(lambda: one_leader(reps), what="a leader")
        zk = raw_client(zk_server.hosts)
        try:
            zk.delete(zk_root + "/leader")  # an operator, while the old leader's session lives
            new = wait_for(lambda: zk.exists(zk_root + "/leader") and
                           json.loads(zk.get(zk_root + "/leader")[0])["id"], what="a new leader")
        finally:
            zk.stop()
            zk.close()
        won_at = time.monotonic()
        refusal = wait_for(lambda: _refusal(reps[new]), timeout=2.0, what="the winner's refusal")
        assert "takeover grace" in refusal, refusal
        wait_for(lambda: reps[new].leadership.fence(), timeout=SESSION_S + 2.0, what="acting")
        assert time.monotonic() - won_at >= SESSION_S - 0.5  # the grace is a session timeout
        assert old in reps


def test_a_clean_resignation_lets_the_next_leader_act_at_once(zk_server: ZkCluster, zk_root: str) -> None:
    with replicas(zk_server.hosts, zk_root, ["a", "b"], session_s=10.0) as reps:
        first = wait_for(lambda: one_leader(reps), what="a leader")
        other = "b" if first == "a" else "a"
        old_epoch = reps[first].leadership.fence().epoch
        reps.pop(first).close()
        token = wait_for(lambda: reps[other].leadership.fence(), timeout=3.0, what="acting at once")
        assert token.epoch > old_epoch


def test_a_stale_epoch_makes_the_leader_resign_and_contend_again(zk_server: ZkCluster, zk_root: str) -> None:
    with replicas(zk_server.hosts, zk_root, ["a"]) as reps:
        wait_for(lambda: one_leader(reps), what="a leader")
        rep = reps["a"]
        token = rep.leadership.fence()
        owner = rep.session.session_id
        zk = raw_client(zk_server.hosts)
        try:
            zk.set(zk_root + "/epoch", b'{"by": "someone else"}')  # bumps the version: the epoch
            bumped = zk.get(zk_root + "/epoch")[1].version
            t0 = time.monotonic()
            with pytest.raises(StaleEpoch):
                rep.journal.set_group_state(GroupState(group="web"), token)
            with pytest.raises(NotLeader):
                rep.leadership.fence()  # at once, before the resignation's own round trip
            # Resigned within one tick: its znode went, and it leads again with a newer epoch.
            fresh = wait_for(lambda: _token(rep), timeout=3.0, what="leading again")
            assert time.monotonic() - t0 < 2.0
            assert fresh.epoch > bumped
            doc = json.loads(zk.get(zk_root + "/epoch")[0])
            assert doc["leader"] == "a" and doc["session"] == owner
        finally:
            zk.stop()
            zk.close()


def test_a_paused_leader_process_wakes_up_refusing(zk_server: ZkCluster, zk_root: str) -> None:
    """SIGSTOP the leader for longer than its session; after SIGCONT, once another replica leads,
    not one fencing check of the old process passes with its old epoch."""
    reps = {cid: start_replica(zk_server.hosts, zk_root, cid, SESSION_S) for cid in "ab"}
    try:
        leader = wait_for(lambda: _leading(reps), timeout=20, what="a leader process")
        other = reps["b" if leader == "a" else "a"]
        reps[leader].proc.send_signal(signal.SIGSTOP)
        try:
            wait_for(lambda: _drain(other) or other.leading, timeout=SESSION_S + 6,
                     what="the other replica to lead")
            time.sleep(max(0.0, 5.0 - SESSION_S))
        finally:
            reps[leader].proc.send_signal(signal.SIGCONT)
        woke = wait_for(lambda: _event(reps[leader], "woke"), timeout=10, what="the wake-up report")
        assert woke["fenced_ok"] == 0, woke
    finally:
        for r in reps.values():
            r.kill()


def _refusal(rep: Coordination) -> str | None:
    try:
        rep.leadership.fence()
    except NotLeader as e:
        return str(e) if "grace" in str(e) else None
    return None


def _token(rep: Coordination) -> FencingToken | None:
    try:
        return rep.leadership.fence()
    except NotLeader:
        return None


def _drain(rep: ReplicaProc) -> bool:
    while rep.next_event(0.01) is not None:
        pass
    return False


def _leading(reps: dict[str, ReplicaProc]) -> str | None:
    for cid, r in reps.items():
        _drain(r)
        if r.leading:
            return cid
    return None


def _event(rep: ReplicaProc, kind: str) -> dict[str, object] | None:
    while (ev := rep.next_event(0.05)) is not None:
        if ev["event"] == kind:
            return ev
    return None
