"""Trial 2 at a small count: ZooKeeper's leader node killed, then the whole ensemble down, mid-failover."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.chaos import ChaosSystem
from harness.trials_zk import zk_leader_killed, zk_outage
from harness.zk import ZkCluster

pytestmark = [pytest.mark.ensemble, pytest.mark.timeout(300)]


def test_failovers_survive_zookeeper_failures_without_acting_blind(
        tmp_path: Path, zk_ensemble: ZkCluster) -> None:
    with ChaosSystem(tmp_path / "sys", zk_ensemble, "/chaos") as system:
        leader_killed = zk_leader_killed(system, runs=1)
        outage = zk_outage(system, runs=1, down_s=5.0)
    assert leader_killed.failures == [], leader_killed.failures
    assert outage.failures == [], outage.failures
    assert outage.figures["mutations_after_session_timeout"] == 0
