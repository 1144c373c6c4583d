"""The partial-failure family (issue 20) at a small count: each trial once, judged by the cloud.

Every trial must end with the service served again (the ENI InUse on a healthy member whose
guest step succeeded, read from the emulator) within the goal, and `status` must never call
the group healthy or degraded while nothing served it beyond one detection window.
`benchmarks/bench_reliability.py --only P` runs the same trials at the full count.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.partial import PartialSystem
from harness.trials_partial import FAMILY
from harness.zk import ZkCluster

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("name", sorted(FAMILY))
def test_partial_failure_ends_served_and_status_tells_the_truth(
        name: str, tmp_path: Path, zk_server: ZkCluster, zk_root: str) -> None:
    member = FAMILY[name]
    with PartialSystem(tmp_path, zk_server, zk_root, member.spec, second_group=member.second_group) as system:
        result = member.trial(system, 1, print)
    assert result.failures == [], "\n".join(result.failures)
    assert result.figures["served_runs"] == "1/1"
