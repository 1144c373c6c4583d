"""Faults: a suspended session stops mutations; kazoo's thread never waits on our work."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from failover import metrics
from failover.coordination import ZkUnavailable
from failover.model import NotLeader
from harness.waiting import wait_for
from harness.zk import ZkCluster
from tests.integration.coordination.helpers import expire_session, replicas


def test_suspended_connection_stops_mutations_before_the_next_step(tmp_path: Path) -> None:
    cluster = ZkCluster(tmp_path / "zk", size=1)
    cluster.start()
    try:
        with replicas(cluster.hosts, "/failover", ["a"], session_s=4.0) as reps:
            rep = reps["a"]
            wait_for(rep.leadership.is_leader, what="a to lead")
            mutations: list[int] = []
            stopped = threading.Event()

            def engine() -> None:
                # Like the engine: one fencing token per step, then the cloud mutation.
                step = 0
                while not stopped.is_set():
                    try:
                        rep.leadership.fence()
                    except NotLeader:
                        time.sleep(0.005)
                        continue
                    mutations.append(step)
                    step += 1
                    time.sleep(0.005)

            runner = threading.Thread(target=engine, daemon=True)
            runner.start()
            wait_for(lambda: len(mutations) > 3, what="steps while leading")
            cluster.stop_node(1)
            # kazoo sees the socket close; from then on no step passes fence().
            wait_for(lambda: not rep.leadership.is_leader(), timeout=4.0, what="suspension noticed")
            with pytest.raises(NotLeader, match=r"suspended|not the leader|gone"):
                rep.leadership.fence()
            with pytest.raises(ZkUnavailable):
                rep.journal.history()  # reads fail fast too instead of hanging
            # Operators see it too: the gauges drop while suspended.
            wait_for(lambda: metrics.REGISTRY.get_sample_value("failover_leader") == 0,
                     what="failover_leader 0")
            assert metrics.REGISTRY.get_sample_value("failover_zk_connected") == 0
            frozen = len(mutations)
            time.sleep(1.0)
            assert len(mutations) == frozen, "a step ran while the session was suspended"
            cluster.start_node(1)
            # Back within the session timeout: the same session, so the same leader may act again.
            wait_for(rep.leadership.is_leader, timeout=20, what="leadership after reconnect")
            wait_for(lambda: len(mutations) > frozen, what="steps resume")
            wait_for(lambda: metrics.REGISTRY.get_sample_value("failover_leader") == 1,
                     what="failover_leader 1")
            stopped.set()
            runner.join(5)
    finally:
        cluster.stop()


def test_state_changes_propagate_while_the_worker_is_busy(zk_server: ZkCluster, zk_root: str) -> None:
    """Our reconcile work never runs on kazoo's thread: a stuck worker cannot delay kazoo."""
    with replicas(zk_server.hosts, zk_root, ["a", "b"]) as reps:
        rep = reps["a"]
        wait_for(lambda: rep.leadership.is_leader() or reps["b"].leadership.is_leader(), what="a leader")
        release = threading.Event()
        entered = threading.Event()
        threads: list[str] = []

        def stuck() -> None:
            threads.append(threading.current_thread().name)
            entered.set()
            release.wait(15)

        rep.session.add_reconciler(stuck)
        assert entered.wait(5)
        old_session = rep.session.session_id
        expire_session(zk_server.hosts, rep)
        # kazoo notices the expiry and opens a new session although our worker is blocked.
        wait_for(lambda: rep.session.session_id not in (None, old_session), what="a new session")
        assert not rep.leadership.is_leader()
        assert not rep.registry.registered()  # re-registering waits for the worker...
        release.set()
        wait_for(rep.registry.registered, what="re-registration once the worker is free")
        assert all(name.startswith("zk-worker-") for name in threads)
