"""Trial 26 at a small count: with Cloud Assistant offline on every member, failovers complete
through the pre-staged guest configuration (`benchmarks/bench_reliability.py --only 26` runs 20)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.partial import PartialSystem
from harness.trials_prestage import PRESTAGE, agent_offline_everywhere
from harness.zk import ZkCluster

pytestmark = pytest.mark.timeout(300)


def test_failovers_complete_through_the_prestaged_path_with_every_agent_offline(
        tmp_path: Path, zk_server: ZkCluster, zk_root: str) -> None:
    with PartialSystem(tmp_path, zk_server, zk_root, PRESTAGE) as system:
        result = agent_offline_everywhere(system, 2, print)
    assert result.failures == [], "\n".join(result.failures)
    assert result.figures["served_runs"] == "2/2"
    assert all(r["guest_path"] == "prestaged" and r["configure_runcommands"] == 0
               for r in result.figures["runs"])
