"""Trial 7 at a small count: many groups fail at once under a 10 QPS per action limit; all complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.chaos import ChaosSystem
from harness.trials_scale import outage_spec, zone_outage
from harness.zk import ZkCluster

pytestmark = pytest.mark.timeout(300)


def test_zone_outage_every_group_fails_over_once(tmp_path: Path, zk_server: ZkCluster, zk_root: str) -> None:
    with ChaosSystem(tmp_path, zk_server, zk_root, outage_spec(groups=20, qps=10)) as system:
        result = zone_outage(system, qps=10, progress=print)
        assert all(system.holder_of(g) == g.members[1] for g in system.groups)
    assert result.failures == [], result.failures
    print(result.figures)
    path = result.figures["last_group"]
    marks = path["marks_s"]  # the last group's path: each mark in the order the cloud saw it
    cloud = [m for m in marks if not m.endswith("_ended")]
    assert cloud == ["started", "detach_sent", "detached", "attach_sent", "attached",
                     "command_sent", "command_done", "finished"], marks
    assert marks["detached"] <= marks["detach_ended"] <= marks["attach_sent"], marks
    assert marks["command_done"] <= marks["guest_ended"] <= marks["verify_ended"] <= marks["finished"], marks
    assert path["cloud_transitions_s"] > 0 and path["controller_rest_s"] >= 0
    assert path["before_detach_call_s"] + path["cloud_transitions_s"] + path["controller_rest_s"] == \
        pytest.approx(marks["finished"] - marks["started"], abs=0.03)
