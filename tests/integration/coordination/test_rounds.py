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


def test_a_member_left_unprobed_stops_counting_while_its_neighbour_counts(
        zk_server: ZkCluster, zk_root: str) -> None:
    """Per-member vote times: the other replica's rounds keep probing i-a but not i-b (an
    overrunning round keeps what finished). Its i-b vote ages out; its i-a vote keeps counting
    (the earlier rule, the group's oldest evidence, dropped both)."""
    with replicas(zk_server.hosts, zk_root, ["a", "b"]) as reps:
        leader = wait_for(lambda: one_leader(reps), what="a leader")
        other = "b" if leader == "a" else "a"
        reps[leader].observations.set_vote_ages({"web": MAX_AGE_S})
        starved = threading.Event()
        stop = threading.Event()
        last_b = [time.time()]

        def rounds() -> None:
            while not stop.wait(0.2):
                now = time.time()
                if not starved.is_set():
                    last_b[0] = now
                obs = reps[other].observations
                obs.publish(Observation(other, "web", "i-a", True, now))
                obs.publish(Observation(other, "web", "i-b", True, last_b[0]))

        thread = threading.Thread(target=rounds, daemon=True)
        thread.start()
        try:
            def voters(instance: str) -> set[str]:
                return set(reps[leader].observations.snapshot().get("web", {}).get(instance, {}))

            wait_for(lambda: voters("i-a") == {other} and voters("i-b") == {other}, what="both votes")
            starved.set()
            t0 = time.monotonic()
            wait_for(lambda: voters("i-b") == set(), timeout=MAX_AGE_S + 4.0, what="i-b's vote aged out")
            assert time.monotonic() - t0 >= MAX_AGE_S - 1.0
            for _ in range(10):  # and i-a's keeps counting all along
                assert voters("i-a") == {other}
                time.sleep(0.2)
            starved.clear()
            wait_for(lambda: voters("i-b") == {other}, timeout=4.0, what="i-b counting again")
        finally:
            stop.set()
            thread.join()
