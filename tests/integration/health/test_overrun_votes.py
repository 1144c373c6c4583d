"""Overrunning rounds on a real ZooKeeper: the leader stops counting a starved replica's votes.

Replica `other` runs a HealthMonitor whose rounds all overrun after two good ones: i-1's probe
finishes each time, i-2's never does (a fake round runner in fake wall time; our own seam).
Its rounds keep publishing, so before issue 23b i-2's old "up" kept counting while i-1's fresh
results advanced the group's round time. Now the vote's round time is the group's oldest
evidence, and the leader's timed votes drop `other` on the group."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from failover.config import GroupConfig
from failover.health.monitor import HealthMonitor
from failover.health.plan import ProbeSpec
from failover.health.probes import ProbeResult, StatusFetcher
from failover.model import ProbeOutcome
from failover.records import Observation
from harness.clock import FakeClock
from harness.waiting import wait_for
from harness.zk import ZkCluster
from tests.integration.coordination.helpers import one_leader, replicas

MAX_AGE_S = 2.0


def test_a_replica_whose_rounds_overrun_stops_counting(zk_server: ZkCluster, zk_root: str) -> None:
    g = GroupConfig.model_validate({
        "name": "web", "network_interface": "eni-web", "members": ["i-1", "i-2"],
        "checks": [{"type": "tcp", "port": 80}], "health": {"fall": 2, "rise": 1, "interval_s": 1},
    })
    clock = FakeClock()
    finishing = {"i-1", "i-2"}
    overrun = threading.Event()

    def runner(specs: Sequence[ProbeSpec], fetch: StatusFetcher | None, deadline_s: float,
               finished: list[ProbeResult]) -> list[ProbeResult]:
        finished.extend(ProbeResult(s, ProbeOutcome(True), clock()) for s in specs
                        if s.instance in finishing)
        if overrun.is_set():
            raise TimeoutError("probe round did not finish")
        return list(finished)

    with replicas(zk_server.hosts, zk_root, ["a", "b"]) as reps:
        leader = wait_for(lambda: one_leader(reps), what="a leader")
        other = "b" if leader == "a" else "a"
        reps[leader].observations.set_vote_ages({"web": MAX_AGE_S})
        monitor = HealthMonitor([g], controller_id=other, addresses=lambda: {"i-1": "10.0.0.1",
                                "i-2": "10.0.0.2"}, sink=reps[other].observations.publish,
                                clock=clock, run_probes=runner)
        (job,) = monitor.job_ids
        stop = threading.Event()

        def rounds() -> None:  # `other`'s rounds every 0.2 s; the leader votes directly
            while not stop.wait(0.2):
                monitor.run_round(job)
                clock.t += 0.2
                reps[leader].observations.publish(Observation(leader, "web", "i-2", True, clock()))

        thread = threading.Thread(target=rounds, daemon=True)
        thread.start()
        try:
            def voters(member: str) -> set[str]:
                return set(reps[leader].observations.snapshot().get("web", {}).get(member, {}))

            wait_for(lambda: voters("i-2") == {"a", "b"}, what="both votes on i-2")
            finishing.discard("i-2")
            overrun.set()  # from now on every round overruns; i-1's probes still finish
            wait_for(lambda: voters("i-2") == {leader}, timeout=MAX_AGE_S + 6.0,
                     what="the starved replica's stale vote on i-2 dropped")
            assert other not in voters("i-1")  # its votes on the group go together
            assert monitor.member_up(g.name, "i-1") is True  # its own fresh evidence stands
        finally:
            stop.set()
            thread.join()
