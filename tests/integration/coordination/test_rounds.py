"""Timed votes on a real ZooKeeper: a replica whose rounds stop stops counting; one that resumes counts again."""

from __future__ import annotations

import threading
import time

from failover.records import Observation
from harness.waiting import wait_for
from harness.zk import ZkCluster
from tests.integration.coordination.helpers import one_leader, replicas

MAX_AGE_S = 2.0


def test_a_frozen_voter_stops_counting_and_comes_back(zk_server: ZkCluster, zk_root: str) -> None:
    with replicas(zk_server.hosts, zk_root, ["a", "b"]) as reps:
        leader = wait_for(lambda: one_leader(reps), what="a leader")
        other = "b" if leader == "a" else "a"
        reps[leader].observations.set_vote_ages({"web": MAX_AGE_S})
        frozen = threading.Event()
        stop = threading.Event()

        def rounds(cid: str) -> None:  # each replica's health rounds, every 0.2 s
            while not stop.wait(0.2):
                if cid == other and frozen.is_set():
                    continue
                reps[cid].observations.publish(Observation(cid, "web", "i-a", cid != other, time.time()))

        threads = [threading.Thread(target=rounds, args=(c,), daemon=True) for c in reps]
        for t in threads:
            t.start()
        try:
            def voters() -> set[str]:
                return set(reps[leader].observations.snapshot().get("web", {}).get("i-a", {}))

            wait_for(lambda: voters() == {"a", "b"}, what="both votes")
            time.sleep(MAX_AGE_S + 1.0)
            assert voters() == {"a", "b"}  # rounds advancing: both keep counting
            frozen.set()
            t0 = time.monotonic()
            wait_for(lambda: voters() == {leader}, timeout=MAX_AGE_S + 4.0, what="the frozen vote dropped")
            took = time.monotonic() - t0
            assert took >= MAX_AGE_S - 0.5, took  # not before its age ran out
            # Its session is alive all along: only the rounds stopped.
            assert sorted(reps[leader].leadership.controllers()) == ["a", "b"]
            frozen.clear()
            wait_for(lambda: voters() == {"a", "b"}, timeout=4.0, what="the vote counting again")
        finally:
            stop.set()
            for t in threads:
                t.join()


def test_a_vote_ages_out_of_a_snapshot_that_nothing_else_changes(zk_server: ZkCluster,
                                                                  zk_root: str) -> None:
    """The leader's snapshot is reused while nothing changed: the age of a vote must still end it
    (no znode changes, no round time advances; only the clock moves)."""
    with replicas(zk_server.hosts, zk_root, ["a", "b"]) as reps:
        leader = wait_for(lambda: one_leader(reps), what="a leader")
        other = "b" if leader == "a" else "a"
        reps[leader].observations.set_vote_ages({"web": MAX_AGE_S})
        reps[other].observations.publish(Observation(other, "web", "i-a", True, time.time()))

        def voters() -> set[str]:
            return set(reps[leader].observations.snapshot().get("web", {}).get("i-a", {}))

        wait_for(lambda: voters() == {other}, what="the vote")
        t0 = time.monotonic()
        wait_for(lambda: voters() == set(), timeout=MAX_AGE_S + 4.0, what="the vote aged out")
        assert time.monotonic() - t0 >= MAX_AGE_S - 1.0
        reps[other].observations.publish(Observation(other, "web", "i-a", True, time.time()))
        wait_for(lambda: voters() == {other}, timeout=4.0, what="counting again")
