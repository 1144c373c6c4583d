"""The account's API limit split across live replicas: each budget follows the registry's count."""

from __future__ import annotations

from failover.cloud.budget import ApiBudget
from failover.coordination import ApiShareWatch
from failover.ports import SystemClock
from harness.waiting import wait_for
from harness.zk import ZkCluster
from tests.integration.coordination.helpers import replicas


def test_each_replica_budgets_its_share_of_the_live_replicas(zk_server: ZkCluster, zk_root: str) -> None:
    with replicas(zk_server.hosts, zk_root, ["a", "b", "c"]) as reps:
        budgets = {cid: ApiBudget(20.0, 20, 0.3, clock=SystemClock()) for cid in reps}
        for cid, rep in reps.items():
            ApiShareWatch(rep.session, budgets[cid]).join()
        wait_for(lambda: all(b.replicas == 3 for b in budgets.values()), what="three replicas counted")
        assert {b.routine_calls("DescribeInstances") for b in budgets.values()} == {14 // 3}
        reps.pop("c").close()  # a graceful stop: its ephemeral goes at once
        wait_for(lambda: budgets["a"].replicas == 2 and budgets["b"].replicas == 2,
                 what="the survivors take over its share")
        assert budgets["a"].routine_calls("DescribeInstances") == 7
