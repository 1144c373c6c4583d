"""The auth-upgrade trial: restarted with auth, the tree is closed and a bumped leader resigns."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.chaos import ChaosSystem
from harness.trials_auth import auth_upgrade
from harness.zk import ZkCluster

pytestmark = pytest.mark.timeout(300)


def test_auth_upgrade_closes_the_tree_and_a_bumped_leader_resigns(
        tmp_path: Path, zk_server: ZkCluster, zk_root: str) -> None:
    with ChaosSystem(tmp_path, zk_server, zk_root) as system:
        result = auth_upgrade(system)
    assert result.failures == [], result.failures
    figures = result.figures
    assert figures["unauthenticated_writes_refused"] == figures["unauthenticated_writes_tried"] > 0
