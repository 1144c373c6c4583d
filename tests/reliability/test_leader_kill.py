"""Trial 1 at a small count: the leader SIGKILLed at a random moment of a failover."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.chaos import ChaosSystem
from harness.trials_kill import leader_kill
from harness.zk import ZkCluster

pytestmark = pytest.mark.timeout(240)


def test_leader_killed_mid_failover_every_failover_completes_once(
        tmp_path: Path, zk_server: ZkCluster, zk_root: str) -> None:
    with ChaosSystem(tmp_path, zk_server, zk_root) as system:
        result = leader_kill(system, runs=2, seed=3)
    assert result.failures == [], result.failures
    assert sum(result.figures["killed_during_step"].values()) == 2
