"""Trial 8 (ZooKeeper side): garbage in journal, group-state and observation znodes."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.chaos import ChaosSystem, Spec
from harness.trials_input import (
    corrupt_group_isolated,
    corrupt_group_state,
    corrupt_record,
    garbage_observation,
)
from harness.zk import ZkCluster

pytestmark = pytest.mark.timeout(240)


def test_corrupt_record_is_skipped_inspected_and_reset(tmp_path: Path, zk_server: ZkCluster, zk_root: str) -> None:
    with ChaosSystem(tmp_path, zk_server, zk_root) as system:
        result = corrupt_record(system)
    assert result.failures == [], result.failures


def test_corrupt_group_state_is_a_clear_error_never_a_crash_loop(
        tmp_path: Path, zk_server: ZkCluster, zk_root: str) -> None:
    with ChaosSystem(tmp_path, zk_server, zk_root) as system:
        result = corrupt_group_state(system)
    assert result.failures == [], result.failures


def test_garbage_observation_is_ignored_with_one_log_line(
        tmp_path: Path, zk_server: ZkCluster, zk_root: str) -> None:
    with ChaosSystem(tmp_path, zk_server, zk_root) as system:
        result = garbage_observation(system)
    assert result.failures == [], result.failures


def test_a_corrupt_group_state_does_not_stop_the_other_groups(
        tmp_path: Path, zk_server: ZkCluster, zk_root: str) -> None:
    with ChaosSystem(tmp_path, zk_server, zk_root, Spec(groups=2)) as system:
        result = corrupt_group_isolated(system)
    assert result.failures == [], result.failures
