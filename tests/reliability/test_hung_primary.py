"""Trial 6 at a small count: a hung holder is force-stopped and never gets the ENI back."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.chaos import ChaosSystem
from harness.trials_faults import HANG_SPEC, hung_primary
from harness.zk import ZkCluster

pytestmark = pytest.mark.timeout(240)


def test_hung_primary_is_fenced_and_the_failover_completes(
        tmp_path: Path, zk_server: ZkCluster, zk_root: str) -> None:
    with ChaosSystem(tmp_path, zk_server, zk_root, HANG_SPEC) as system:
        result = hung_primary(system, runs=1)
    assert result.failures == [], result.failures
