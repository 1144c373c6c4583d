"""Trial 3 at a small count: 30 % of every API action fails; each side effect still happens once."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.chaos import ChaosSystem
from harness.trials_faults import FAULT_SPEC, api_faults, fault_rules
from harness.zk import ZkCluster

pytestmark = pytest.mark.timeout(240)


def test_fault_rules_add_up_to_thirty_percent() -> None:
    rules = fault_rules(0.30)
    survive = 1.0
    for r in rules:
        survive *= 1 - r["probability"]
    assert abs((1 - survive) - 0.30) < 0.001
    assert {("code" in r, r.get("drop_connection", False), "delay_s" in r) for r in rules} == {
        (True, False, False), (False, False, True), (False, True, False)}


def test_every_failover_completes_with_each_side_effect_once(
        tmp_path: Path, zk_server: ZkCluster, zk_root: str) -> None:
    with ChaosSystem(tmp_path, zk_server, zk_root, FAULT_SPEC) as system:
        result = api_faults(system, runs=2)
    assert result.failures == [], result.failures
    assert result.figures["faults_injected"] > 0
