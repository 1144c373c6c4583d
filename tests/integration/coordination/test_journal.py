"""The write-ahead journal: fenced writes, resume, history, retention, corruption, ack."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import pytest

from failover.coordination import Coordination, connect, journal_admin
from failover.model import JournalCorrupt, NotLeader, Result, StaleEpoch, StepName, StepStatus, Trigger
from failover.records import FailoverRecord, FencingToken, GroupState, StepRecord
from harness.waiting import wait_for
from harness.zk import ZkCluster
from tests.integration.coordination.helpers import expire_session, one_leader, raw_client, replicas, zk_config


def record(fid: str, group: str = "web", started: float | None = None) -> FailoverRecord:
    return FailoverRecord(id=fid, group=group, from_instance="i-a", to_instance="i-b",
                          trigger=Trigger.AUTO, reason="primary down", epoch=0,
                          started_at=time.time() if started is None else started)


def finished(rec: FailoverRecord) -> FailoverRecord:
    return dataclasses.replace(rec, result=Result.COMPLETED, finished_at=rec.started_at + 1)


@pytest.fixture
def solo(zk_server: ZkCluster, zk_root: str) -> Iterator[Coordination]:
    with replicas(zk_server.hosts, zk_root, ["a"]) as reps:
        wait_for(reps["a"].leadership.is_leader, what="a to lead")
        yield reps["a"]


def test_deposed_leaders_write_is_refused_for_its_stale_epoch(zk_server: ZkCluster, zk_root: str) -> None:
    with replicas(zk_server.hosts, zk_root, ["a", "b"]) as reps:
        old = wait_for(lambda: one_leader(reps), what="a leader")
        new = "b" if old == "a" else "a"
        stale = reps[old].leadership.fence()
        rec = record("f1")
        reps[old].journal.begin(rec, stale)
        running = rec.with_step(StepRecord(StepName.DETACH, time.time()))
        expire_session(zk_server.hosts, reps[old])
        fresh = wait_for(lambda: reps[new].leadership.fence(), what="the new leader's token")
        assert fresh.epoch > stale.epoch
        # The old leader's session comes back (a new one) while a step is in flight with its old token.
        wait_for(lambda: reps[old].session.connected and reps[old].registry.registered(),
                 what="old leader reconnected")
        with pytest.raises(StaleEpoch):
            reps[old].journal.update(running, stale)
        with pytest.raises(StaleEpoch):
            reps[old].journal.begin(record("f2"), stale)
        with pytest.raises(StaleEpoch):
            reps[old].journal.set_group_state(GroupState("web", holder="i-b"), stale)
        with pytest.raises(NotLeader):
            reps[old].leadership.fence()
        # Nothing of the refused writes landed; the new leader resumes the record.
        assert reps[new].journal.get("f2") is None
        unfinished = reps[new].journal.unfinished()
        assert [r.id for r in unfinished] == ["f1"] and unfinished[0].steps == ()
        reps[new].journal.update(finished(unfinished[0]), fresh)
        got = reps[new].journal.get("f1")
        assert got is not None and got.result is Result.COMPLETED and got.epoch == fresh.epoch
        assert reps[new].journal.unfinished() == []


def test_write_ahead_steps_round_trip_and_history(solo: Coordination) -> None:
    tok = solo.leadership.fence()
    base = time.time()
    for i in range(3):
        rec = record(f"f{i}", started=base + i)
        solo.journal.begin(rec, tok)
        step = StepRecord(StepName.DETACH, base + i)
        solo.journal.update(rec.with_step(step), tok)  # before it acts
        done = rec.with_step(dataclasses.replace(step, duration_s=0.5, status=StepStatus.OK,
                                                 request_ids=("req-1",)))
        solo.journal.update(finished(done), tok)  # its outcome after
    solo.journal.begin(record("other", group="db", started=base + 10), tok)
    got = solo.journal.get("f1")
    assert got is not None and got.steps[0].request_ids == ("req-1",) and got.epoch == tok.epoch
    assert [r.id for r in solo.journal.history("web")] == ["f2", "f1", "f0"]
    assert [r.id for r in solo.journal.history(limit=2)] == ["other", "f2"]
    assert [r.id for r in solo.journal.unfinished()] == ["other"]
    assert solo.journal.get("nope") is None


def test_retention_keeps_newest_finished_records(zk_server: ZkCluster, zk_root: str) -> None:
    coord = connect(zk_config(zk_server.hosts, zk_root), "a", retention=3)
    try:
        coord.join()
        wait_for(coord.leadership.is_leader, what="a to lead")
        tok = coord.leadership.fence()
        coord.journal.begin(record("run", started=1.0), tok)  # oldest but running: kept
        for i in range(5):
            rec = record(f"f{i}", started=10.0 + i)
            coord.journal.begin(rec, tok)
            coord.journal.update(finished(rec), tok)
        assert [r.id for r in coord.journal.history("web")] == ["f4", "f3", "f2", "run"]
        assert coord.journal.get("f0") is None
    finally:
        coord.close()


def test_corrupt_record_is_reported_skipped_inspected_and_reset(
    solo: Coordination, zk_server: ZkCluster
) -> None:
    tok = solo.leadership.fence()
    good = record("good", started=1.0)
    solo.journal.begin(good, tok)
    solo.journal.begin(record("bad", started=2.0), tok)
    lay = solo.session.layout
    raw = raw_client(zk_server.hosts)
    try:
        raw.set(lay.record("web", "bad"), b"{not json")
    finally:
        raw.stop()
        raw.close()
    with pytest.raises(JournalCorrupt, match=lay.record("web", "bad")):
        solo.journal.get("bad")
    assert [r.id for r in solo.journal.history("web")] == ["good"]
    assert [r.id for r in solo.journal.unfinished()] == ["good"]
    entries = {e.path: e for e in journal_admin.inspect(solo.session)}
    bad = entries[lay.record("web", "bad")]
    assert not bad.ok and bad.raw == "{not json" and bad.running and bad.error
    assert entries[lay.record("web", "good")].ok
    assert journal_admin.reset(solo.session, "bad") == 3  # record + id index + running entry
    assert solo.journal.get("bad") is None
    assert journal_admin.reset(solo.session) > 0
    assert solo.journal.history() == [] and solo.journal.unfinished() == []
    # The epoch survives a reset: the leader's token still writes.
    solo.journal.begin(record("after"), solo.leadership.fence())


def test_group_state_and_operator_ack(solo: Coordination) -> None:
    tok = solo.leadership.fence()
    j = solo.journal
    assert j.group_state("web") == GroupState("web")
    assert j.ack("web") is False
    blocked = GroupState("web", holder="i-b", recent_failovers=(1.0, 2.0, 3.0), blocked=True,
                         blocked_reason="3 failovers in 3600s")
    j.set_group_state(blocked, tok)
    assert j.group_state("web") == blocked  # the leader has now seen the blocked state
    assert j.ack("web") is True  # operator, no token
    assert j.ack("web") is False
    # The leader writes again from its stale read (cooldown change): the ack must survive.
    j.set_group_state(dataclasses.replace(blocked, cooldown_until=99.0), tok)
    now = j.group_state("web")
    assert not now.blocked and now.holder == "i-b" and now.cooldown_until == 99.0
    assert now.recent_failovers == ()


def test_update_refused_when_record_changed_under_us(solo: Coordination, zk_server: ZkCluster) -> None:
    tok = solo.leadership.fence()
    rec = record("f1")
    solo.journal.begin(rec, tok)
    raw = raw_client(zk_server.hosts)
    try:
        raw.set(solo.session.layout.record("web", "f1"), raw.get(solo.session.layout.record("web", "f1"))[0])
    finally:
        raw.stop()
        raw.close()
    with pytest.raises(NotLeader, match="changed under us"):
        solo.journal.update(rec.with_step(StepRecord(StepName.FENCE, 1.0)), tok)


def test_forged_future_epoch_is_refused(solo: Coordination) -> None:
    tok = solo.leadership.fence()
    with pytest.raises(StaleEpoch):
        solo.journal.begin(record("x"), FencingToken("a", tok.epoch + 1))


def test_a_stale_copy_never_overwrites_a_finished_record(solo: Coordination) -> None:
    token = solo.leadership.fence()
    rec = record("f-stale")
    solo.journal.begin(rec, token)
    stale = rec.with_step(StepRecord(StepName.DETACH, time.time()))  # taken while running
    solo.journal.update(finished(rec), token)
    with pytest.raises(NotLeader, match="already finished"):
        solo.journal.update(stale, token)
    got = solo.journal.get("f-stale")
    assert got is not None and got.result is Result.COMPLETED
    # Without a cached version (a new process), the write reads the record first: refused too.
    solo.journal._versions.clear()
    solo.journal._finished.clear()
    with pytest.raises(NotLeader, match="already finished"):
        solo.journal.update(stale, token)
