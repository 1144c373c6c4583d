"""Trial 4 at a small count: a flapping holder gets at most one failover, then a block until `ack`."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.chaos import ChaosSystem
from harness.trials_faults import FLAP_SPEC, flapping
from harness.zk import ZkCluster

pytestmark = pytest.mark.timeout(240)


def test_flapping_holder_fails_over_once_then_blocks_until_ack(
        tmp_path: Path, zk_server: ZkCluster, zk_root: str) -> None:
    with ChaosSystem(tmp_path, zk_server, zk_root, FLAP_SPEC) as system:
        result = flapping(system, period_s=1.0, duration_s=6.0)
    assert result.failures == [], result.failures
    assert result.figures["failovers_while_flapping"] == 1
