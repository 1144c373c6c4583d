"""The 3-node ensemble: one member down changes nothing; all down stops everyone; recovery."""

from __future__ import annotations

import time

import pytest

from failover.coordination import Coordination
from failover.model import NotLeader
from failover.records import Observation
from harness.waiting import wait_for
from harness.zk import ZkCluster
from tests.integration.coordination.helpers import leaders, one_leader, replicas
from tests.integration.coordination.test_journal import finished, record

pytestmark = pytest.mark.ensemble


def _journal_works(reps: dict[str, Coordination], cid: str, fid: str) -> bool:
    tok = reps[cid].leadership.fence()
    rec = record(fid)
    reps[cid].journal.begin(rec, tok)
    reps[cid].journal.update(finished(rec), tok)
    got = reps[cid].journal.get(fid)
    return got is not None and got.finished


def test_exactly_one_leader_and_one_member_down(zk_ensemble: ZkCluster) -> None:
    with replicas(zk_ensemble.hosts, "/failover", ["a", "b", "c"], session_s=4.0) as reps:
        leader = wait_for(lambda: one_leader(reps), what="a leader")
        time.sleep(0.5)
        assert leaders(reps) == [leader]
        epoch = reps[leader].leadership.fence().epoch
        for cid, rep in reps.items():
            rep.observations.publish(Observation(cid, "web", "i-a", True, time.time()))
        zk_leader = zk_ensemble.leader_id()
        assert zk_leader is not None
        zk_ensemble.stop_node(zk_leader)  # the hardest member to lose: the ensemble re-elects
        # Replicas keep working: a leader acts, writes its journal and sees every vote.
        wait_for(lambda: _journal_works(reps, one_leader(reps) or "?", "f-after"), timeout=30,
                 what="journal writes with one member down")
        now = one_leader(reps)
        assert now is not None
        assert reps[now].leadership.fence().epoch >= epoch
        wait_for(lambda: len(reps[now].observations.snapshot()["web"]["i-a"]) == 3, timeout=20,
                 what="all three votes")
        zk_ensemble.start_node(zk_leader)


def test_whole_ensemble_down_nobody_acts_then_recovers(zk_ensemble: ZkCluster) -> None:
    with replicas(zk_ensemble.hosts, "/failover", ["a", "b", "c"], session_s=4.0) as reps:
        wait_for(lambda: one_leader(reps), what="a leader")
        for cid, rep in reps.items():
            rep.observations.publish(Observation(cid, "web", "i-a", cid != "c", time.time()))
        zk_ensemble.stop()
        wait_for(lambda: leaders(reps) == [], timeout=10, what="every replica to stand down")
        for rep in reps.values():
            with pytest.raises(NotLeader):
                rep.leadership.fence()
        time.sleep(1.0)
        assert leaders(reps) == []  # and nobody believes otherwise while it stays down
        zk_ensemble.start()
        leader = wait_for(lambda: one_leader(reps), timeout=40, what="a leader after recovery")
        wait_for(lambda: _journal_works(reps, leader, "f-recovered"), timeout=20,
                 what="journal writes after recovery")

        def votes() -> dict[str, bool]:
            snap = reps[leader].observations.snapshot()
            return {c: o.up for c, o in snap.get("web", {}).get("i-a", {}).items()}

        wait_for(lambda: votes() == {"a": True, "b": True, "c": False}, timeout=20,
                 what="every vote back")
        assert leaders(reps) == [leader]
