"""Observations: written on change only, live replicas only, garbage ignored, re-published after loss."""

from __future__ import annotations

import time
from collections.abc import Mapping

import pytest

from failover.quorum import quorum_verdict
from failover.records import Observation
from harness.waiting import wait_for
from harness.zk import ZkCluster
from tests.integration.coordination.helpers import expire_session, one_leader, raw_client, replicas


def obs(cid: str, up: bool, instance: str = "i-a", reason: str = "") -> Observation:
    return Observation(cid, "web", instance, up, time.time(), reason)


def test_leader_sees_every_replicas_verdict_and_computes_quorum(zk_server: ZkCluster, zk_root: str) -> None:
    with replicas(zk_server.hosts, zk_root, ["a", "b", "c"]) as reps:
        leader = wait_for(lambda: one_leader(reps), what="a leader")
        for cid, rep in reps.items():
            rep.observations.publish(obs(cid, cid == "a", reason="timeout" if cid != "a" else ""))
            rep.observations.publish(obs(cid, True, instance="i-b"))

        def complete() -> Mapping[str, Mapping[str, Mapping[str, Observation]]] | None:
            snap = reps[leader].observations.snapshot()
            return snap if len(snap.get("web", {}).get("i-a", {})) == 3 else None

        snap = wait_for(complete, what="all verdicts")
        votes = {c: o.up for c, o in snap["web"]["i-a"].items()}
        assert votes == {"a": True, "b": False, "c": False}
        assert snap["web"]["i-a"]["b"].reason == "timeout"
        live = len(reps[leader].leadership.controllers())
        assert quorum_verdict(votes, live, "majority") is False
        assert quorum_verdict(votes, live, "all") is None
        assert quorum_verdict({c: o.up for c, o in snap["web"]["i-b"].items()}, live, 2) is True


def test_unchanged_verdict_is_not_rewritten(zk_server: ZkCluster, zk_root: str) -> None:
    with replicas(zk_server.hosts, zk_root, ["a"]) as reps:
        rep = reps["a"]
        rep.observations.publish(obs("a", True))
        path = rep.session.layout.observation("web", "i-a", "a")
        raw = raw_client(zk_server.hosts)
        try:
            stat = wait_for(lambda: raw.exists(path), what="the observation znode")
            for _ in range(5):
                rep.observations.publish(obs("a", True, reason="still fine"))
            time.sleep(0.3)
            assert raw.exists(path).mzxid == stat.mzxid
            rep.observations.publish(obs("a", False, reason="refused"))
            wait_for(lambda: raw.exists(path).version > stat.version, what="the changed verdict")
            assert raw.exists(path).ephemeralOwner == rep.session.session_id
        finally:
            raw.stop()
            raw.close()


def test_dead_replica_votes_vanish_and_garbage_is_ignored(
    zk_server: ZkCluster, zk_root: str, caplog: pytest.LogCaptureFixture
) -> None:
    with replicas(zk_server.hosts, zk_root, ["a", "b"]) as reps:
        for cid, rep in reps.items():
            rep.observations.publish(obs(cid, False))
        wait_for(lambda: len(reps["a"].observations.snapshot().get("web", {}).get("i-a", {})) == 2,
                 what="both votes")
        raw = raw_client(zk_server.hosts)
        try:
            # A vote from an id that is not a live replica, and garbage from a live one.
            raw.create(reps["a"].session.layout.observation("web", "i-a", "ghost"), b'{"up": true, "at": 1}')
            raw.set(reps["a"].session.layout.observation("web", "i-a", "b"), b"\xff garbage")
        finally:
            raw.stop()
            raw.close()
        # The leader's view follows ZooKeeper through watches: it converges, garbage skipped.
        wait_for(lambda: set(reps["a"].observations.snapshot()["web"]["i-a"]) == {"a"},
                 what="ghost filtered and garbage ignored")
        assert "ignoring observation znode" in caplog.text
        reps["b"].observations.publish(obs("b", True))  # a change rewrites b's vote
        wait_for(lambda: set(reps["a"].observations.snapshot()["web"]["i-a"]) == {"a", "b"},
                 what="b's vote back")
        reps.pop("b").close()
        wait_for(lambda: set(reps["a"].observations.snapshot()["web"]["i-a"]) == {"a"},
                 what="the closed replica's vote gone")


def test_verdicts_republished_after_session_loss(zk_server: ZkCluster, zk_root: str) -> None:
    with replicas(zk_server.hosts, zk_root, ["a", "b"]) as reps:
        reps["b"].observations.publish(obs("b", False, reason="refused"))
        wait_for(lambda: "b" in reps["a"].observations.snapshot().get("web", {}).get("i-a", {}),
                 what="b's vote")
        old_session = reps["b"].session.session_id
        expire_session(zk_server.hosts, reps["b"])
        wait_for(lambda: reps["b"].session.session_id not in (None, old_session), what="new session")

        def back() -> bool:
            got = reps["a"].observations.snapshot().get("web", {}).get("i-a", {}).get("b")
            return got is not None and not got.up and got.reason == "refused"

        wait_for(back, what="b's vote re-published")


def test_publish_refuses_another_replicas_id(zk_server: ZkCluster, zk_root: str) -> None:
    with replicas(zk_server.hosts, zk_root, ["a"]) as reps, pytest.raises(ValueError, match="controller_id"):
        reps["a"].observations.publish(obs("b", True))


def test_a_snapshot_decodes_a_vote_again_only_when_its_content_changed(
    zk_server: ZkCluster, zk_root: str
) -> None:
    with replicas(zk_server.hosts, zk_root, ["a"]) as reps:
        rep = reps["a"]
        wait_for(lambda: one_leader(reps), what="a leader")
        rep.observations.publish(obs("a", True))
        first = wait_for(lambda: rep.observations.snapshot().get("web", {}).get("i-a", {}).get("a"),
                         what="the vote")
        assert rep.observations.snapshot()["web"]["i-a"]["a"] is first  # the same decode, reused
        rep.observations.publish(obs("a", False, reason="refused"))
        changed = wait_for(lambda: o if (o := rep.observations.snapshot()["web"]["i-a"]["a"]).up is False else None,
                           what="the changed vote")
        assert changed.reason == "refused"
