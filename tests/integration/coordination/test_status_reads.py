"""The status's journal reads: the same document as reading every record, in ~3 reads per group."""

from __future__ import annotations

import dataclasses
import time

from failover.config import Config
from failover.coordination import Coordination
from failover.engine.status import build_status
from failover.model import Result, Trigger
from failover.records import FailoverRecord, GroupState
from harness.waiting import wait_for
from harness.zk import ZkCluster
from tests.integration.coordination.helpers import raw_client, replicas


def rec(group: str, n: int, base_ms: int) -> FailoverRecord:
    ms = base_ms + n
    return FailoverRecord(id=f"{group}-{ms:x}-{n:06x}", group=group, from_instance="i-a",
                          to_instance="i-b", trigger=Trigger.AUTO, reason="down", epoch=0,
                          started_at=ms / 1000)


def config(groups: list[str]) -> Config:
    return Config.model_validate({"cloud": {"region": "cn-test"}, "groups": [
        {"name": g, "network_interface": f"eni-{g}", "members": [f"i-{g}a", f"i-{g}b"],
         "checks": [{"type": "tcp", "port": 80}]} for g in groups]})


def test_status_reads_match_the_full_history_in_a_bounded_number_of_reads(
    zk_server: ZkCluster, zk_root: str
) -> None:
    groups = ["web", "db-main", "quiet", "broken"]
    with replicas(zk_server.hosts, zk_root, ["a"]) as reps:
        solo: Coordination = reps["a"]
        wait_for(solo.leadership.is_leader, what="a to lead")
        tok = solo.leadership.fence()
        base = int(time.time() * 1000)
        for g, count in (("web", 12), ("db-main", 3), ("broken", 1)):
            for n in range(count):
                r = rec(g, n, base)
                solo.journal.begin(r, tok)
                if not (g == "db-main" and n == count - 1):  # its newest is still running
                    solo.journal.update(dataclasses.replace(r, result=Result.COMPLETED,
                                                            finished_at=r.started_at + 1), tok)
            solo.journal.set_group_state(GroupState(g, holder=f"i-{g}a"), tok)
        raw = raw_client(zk_server.hosts)
        try:
            raw.set(solo.session.layout.group("broken"), b"{not json")
        finally:
            raw.stop()
            raw.close()
        cfg = config(groups)
        reads = solo.status_reads(groups)
        fast = build_status(cfg, solo.leadership, reads, {})
        full = build_status(cfg, solo.leadership, solo.journal, {})
        assert fast == full
        by_name = {g["name"]: g for g in fast["groups"]}
        assert by_name["web"]["last_failover"]["id"] == rec("web", 11, base).id
        assert by_name["db-main"]["state"] == "failing_over"
        assert by_name["quiet"]["last_failover"] is None
        assert by_name["broken"]["state"] == "corrupt"
        # One state, one listing and one record per group, whatever the retention holds.
        assert reads.reads <= 3 * len(groups)
        # The mirror: the same document; journal reads only the first time (older states
        # carry no last failover), none per group afterwards.
        assert build_status(cfg, solo.leadership, solo.status.view(groups), {}) == full
        assert solo.status.reads <= 3 * len(groups)
        paced: list[int] = []  # a rebuild yielding between groups reads the same
        assert build_status(cfg, solo.leadership,
                            solo.status.view(groups, lambda: paced.append(1)), {}) == full
        assert len(paced) == len(groups)
        # A failover finishing now keeps itself in the group's state (as the executor does).
        newer = dataclasses.replace(rec("web", 99, base + 5000), result=Result.COMPLETED,
                                    finished_at=(base + 5099) / 1000 + 1)
        solo.journal.begin(dataclasses.replace(newer, result=Result.RUNNING, finished_at=None), tok)
        solo.journal.update(newer, tok)
        solo.journal.set_group_state(GroupState("web", holder="i-weba", last_failover=newer), tok)
        running = rec("quiet", 1, base + 9000)
        solo.journal.begin(running, tok)

        def fresh() -> bool:
            doc = build_status(cfg, solo.leadership, solo.status.view(groups), {})
            return doc == build_status(cfg, solo.leadership, solo.journal, {})

        wait_for(fresh, timeout=5.0, what="the mirror to follow the writes")
        assert solo.status.reads == 0
        by_name = {g["name"]: g for g in build_status(cfg, solo.leadership, solo.status.view(groups),
                                                      {})["groups"]}
        assert by_name["web"]["last_failover"]["id"] == newer.id
        assert by_name["quiet"]["last_failover"]["result"] == "running"
