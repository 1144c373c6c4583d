"""The paused-leader trials at a small count: a SIGSTOPped leader sends nothing after it wakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.chaos import ChaosSystem
from harness.trials_pause import HUNG_SPEC, paused_leader
from harness.zk import ZkCluster

pytestmark = pytest.mark.timeout(300)


def test_a_leader_paused_mid_failover_sends_nothing_after_waking(
        tmp_path: Path, zk_server: ZkCluster, zk_root: str) -> None:
    with ChaosSystem(tmp_path, zk_server, zk_root) as system:
        result = paused_leader(system, runs=2, seed=5)
    assert result.failures == [], result.failures
    assert result.figures["deposed_calls_after_wake_total"] == 0
    assert result.figures["failovers_completed"] == 2


def test_a_leader_paused_while_re_sending_a_detach_sends_nothing_after_waking(
        tmp_path: Path, zk_server: ZkCluster, zk_root: str) -> None:
    with ChaosSystem(tmp_path, zk_server, zk_root, HUNG_SPEC) as system:
        result = paused_leader(system, runs=1, seed=7, hung=True)
    assert result.failures == [], result.failures
    assert result.figures["failovers_completed"] == 1
