"""The whole-replica health benchmark at a small size (benchmarks/bench_health.py, default mode):
one `failover run` with ZooKeeper and the emulator, 200 groups / 400 members behind TCP and HTTP
checks, readiness on. It must converge: every member probed and judged, its addresses and
standbys read in pages, within the replica's routine share. Timing is the benchmark's business.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scale import ScaleSpec, ScaleSystem, run_scale
from harness.scale_outage import run_outage
from harness.zk import ZkCluster

pytestmark = pytest.mark.timeout(300)


def test_one_replica_of_200_groups_probes_every_member(tmp_path: Path, zk_server: ZkCluster,
                                                       zk_root: str) -> None:
    spec = ScaleSpec(groups=200, seconds=20, up_timeout_s=120, wait_for_up=False)
    with ScaleSystem(tmp_path, zk_server, spec, root=zk_root) as system:
        result = run_scale(system, progress=print)
    print(result)
    assert result["converged"], f"not every member was judged: {result['members_up_when_start_up_ended']}"
    steady = result["steady"]["replicas"]["ctl-a"]
    share = result["routine_share_per_s_per_replica"]
    for action, per_s in steady["api_calls_per_s"].items():
        assert per_s <= share.get(action, per_s), f"{action}: {per_s}/s over the share {share}"
    startup = result["startup"]["replicas"]["ctl-a"]["api_calls_by_code"]
    # 400 members are 4 DescribeInstances pages: the addresses once, readiness once (+1 retry
    # each at most), not a read per group or per probe round.
    assert startup.get("DescribeInstances OK", 0) <= 12, startup
    assert steady["throttled_calls"] == 0


def test_a_zone_outage_inside_the_fleet_moves_exactly_the_dead_groups(
        tmp_path: Path, zk_server: ZkCluster, zk_root: str) -> None:
    """`bench_health.py --outage`: the dead holders' groups move to their standbys, each ENI
    once, and no other group moves; the figures are trial 7's (`outage_figures`)."""
    spec = ScaleSpec(groups=40, seconds=5, up_timeout_s=120, account_qps=20)
    with ScaleSystem(tmp_path, zk_server, spec, root=zk_root) as system:
        run_scale(system, progress=print)
        outage = run_outage(system, 8, print)
        held = {e["id"]: e.get("instance") for e in system.sim.control.state()["enis"]} \
            if system.sim is not None else {}
    print(outage)
    assert outage["failures"] == []
    moved = {eni: at for eni, at in held.items()
             if eni[4:].isdigit() and at != f"i-{2 * int(eni[4:]):05d}"}  # the groups' ENIs
    assert moved == {
        f"eni-{g:05d}": f"i-{2 * g + 1:05d}" for g in range(8)}
    figures = outage["figures"]
    assert figures["groups"] == 8 and figures["throughput_bound_s"] == pytest.approx(8 / 20)
    assert figures["calls_per_failover"]["DetachNetworkInterface"] == pytest.approx(1.0)
