"""The ZooKeeper fixture itself: kazoo talks to a real server, single node and ensemble."""

from __future__ import annotations

import time

from kazoo.client import KazooClient

from harness.zk import ZkCluster


def _client(hosts: str) -> KazooClient:
    zk = KazooClient(hosts=hosts, timeout=4.0, connection_retry={"max_tries": -1, "max_delay": 0.5})
    zk.start(timeout=15)
    return zk


def test_single_node_round_trip(zk_server: ZkCluster, zk_root: str) -> None:
    zk = _client(zk_server.hosts)
    try:
        zk.create(f"{zk_root}/hello", b"world", makepath=True)
        assert zk.get(f"{zk_root}/hello")[0] == b"world"
    finally:
        zk.stop()
        zk.close()


def test_ensemble_survives_one_member_down(zk_ensemble: ZkCluster) -> None:
    zk = _client(zk_ensemble.hosts)
    try:
        zk.create("/before", b"1")
        leader = zk_ensemble.leader_id()
        assert leader is not None
        zk_ensemble.stop_node(leader)
        # The remaining two re-elect; writes through the client work again.
        deadline = time.monotonic() + 20
        while True:
            try:
                zk.create("/after", b"2")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert zk.get("/before")[0] == b"1"
        assert zk.get("/after")[0] == b"2"
        assert zk_ensemble.leader_id() not in (None, leader)
        zk_ensemble.start_node(leader)
        assert zk_ensemble.leader_id() is not None
    finally:
        zk.stop()
        zk.close()
