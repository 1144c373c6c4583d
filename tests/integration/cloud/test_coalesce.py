"""Coalesced ENI reads through the real SDK: many attach waits share the describes."""

from __future__ import annotations

import threading
import time
from typing import Any

from failover.model import CallTrace, EniState, EniStatus
from harness.cloud import new_cloud
from harness.sim import SimServer, small_world

WAITS = 30
DESCRIBE = "DescribeNetworkInterfaces"


def many_enis_world() -> dict[str, Any]:
    """`WAITS` Available ENIs and as many instances to attach them to, attach taking 1 s."""
    world = small_world()
    world["instances"] += [
        {"id": f"i-t{k:02d}", "vswitch": "vsw-a", "status": "Running", "type": "ecs.g7.large",
         "primary_ip": f"192.168.1.{100 + k}", "max_enis": 3, "max_ips_per_eni": 10,
         "hotplug": True}
        for k in range(WAITS)
    ]
    world["network_interfaces"] += [
        {"id": f"eni-w{k:02d}", "vswitch": "vsw-a", "security_groups": ["sg-a"],
         "primary_ip": f"192.168.1.{150 + k}", "mac": f"00:16:3e:00:01:{k:02x}"}
        for k in range(WAITS)
    ]
    world["timing"] = {"attach_s": 1.0, "detach_s": 0.2, "command_s": 0.1}
    return world


def test_concurrent_attach_waits_share_describes_under_a_10_qps_limit() -> None:
    with SimServer.from_world(many_enis_world()) as sim:
        sim.control.qps(DESCRIBE, 10)
        # Our own budget is generous: only the sharing keeps us under the emulator's 10 QPS.
        cloud = new_cloud(sim)
        traces = [CallTrace() for _ in range(WAITS)]
        states: dict[int, EniState] = {}
        failures: list[BaseException] = []
        start = threading.Barrier(WAITS)

        def attach(k: int) -> None:
            start.wait()
            try:
                states[k] = cloud.attach_eni(f"eni-w{k:02d}", f"i-t{k:02d}", timeout_s=20,
                                             trace=traces[k])
            except Exception as e:  # reported below, with the others
                failures.append(e)

        threads = [threading.Thread(target=attach, args=(k,)) for k in range(WAITS)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        elapsed = time.monotonic() - t0

    assert failures == []
    assert all(states[k].status is EniStatus.IN_USE and states[k].instance_id == f"i-t{k:02d}"
               for k in range(WAITS))
    describes = [c for tr in traces for c in tr.calls if c.action == DESCRIBE]
    assert {c.code for c in describes} == {"OK"}  # never throttled
    shared = {c.request_id for c in describes}
    assert None not in shared
    # Each wait reads at least twice on its own (before the attach, once it landed): 60+
    # describes without sharing, at 10 QPS at least 6 s. Shared: a round per dense interval
    # (0.3 s) or so, at most one per first look (0.15 s) after a credit of two.
    assert len(shared) < WAITS
    assert len(shared) <= 2 + elapsed / 0.15 + 1
    per_wait = [len({c.request_id for c in tr.calls if c.action == DESCRIBE}) for tr in traces]
    assert min(per_wait) >= 2  # every wait still saw its own reads in its trace
