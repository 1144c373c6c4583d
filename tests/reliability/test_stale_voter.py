"""The stale-voter trial: a frozen replica's votes stop counting; nothing fails over because of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.chaos import ChaosSystem
from harness.trials_voter import stale_voter
from harness.zk import ZkCluster

pytestmark = pytest.mark.timeout(300)


def test_a_frozen_voters_vote_stops_counting(tmp_path: Path, zk_server: ZkCluster, zk_root: str) -> None:
    with ChaosSystem(tmp_path, zk_server, zk_root) as system:
        result = stale_voter(system, runs=1)
    assert result.failures == [], result.failures
    assert result.figures["dropped_after_s"][0] <= result.figures["bound_s"]
