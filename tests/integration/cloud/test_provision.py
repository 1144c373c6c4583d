"""The calls provisioning needs (not in the port yet), against the emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from failover.cloud import EcsCloud
from failover.model import CallTrace
from harness.cloud import new_cloud, transitions, world_with_far_instance
from harness.sim import SimServer


@pytest.fixture
def world_sim() -> Iterator[SimServer]:
    world = world_with_far_instance(eip_s=0.2)
    world["eips"].append({"id": "eip-b", "ip": "47.100.0.2"})
    with SimServer.from_world(world) as server:
        yield server


@pytest.fixture
def cloud(world_sim: SimServer) -> EcsCloud:
    return new_cloud(world_sim, rate_per_s=100)


def test_assign_private_ips_once_per_token(world_sim: SimServer, cloud: EcsCloud) -> None:
    assert cloud.assign_private_ips("eni-svc", ["192.168.1.52"], "tok-assign-1") == ("192.168.1.52",)
    # A retry with the same token (say, after a lost answer) assigns nothing new.
    assert cloud.assign_private_ips("eni-svc", ["192.168.1.52"], "tok-assign-1") == ("192.168.1.52",)
    assert cloud.describe_eni("eni-svc").private_ips == ("192.168.1.50", "192.168.1.51", "192.168.1.52")


def test_associate_eip_waits_for_in_use_and_is_idempotent(world_sim: SimServer,
                                                         cloud: EcsCloud) -> None:
    eip = cloud.associate_eip("eip-b", "eni-svc", private_ip="192.168.1.51",
                              client_token="tok-eip-1", timeout_s=10)
    assert (eip.status, eip.instance_id, eip.private_ip) == ("InUse", "eni-svc", "192.168.1.51")
    trace = CallTrace()
    cloud.associate_eip("eip-b", "eni-svc", private_ip="192.168.1.51", client_token="tok-eip-2",
                        timeout_s=10, trace=trace)
    assert [c.action for c in trace.calls] == ["DescribeEipAddresses"]
    assert transitions(world_sim, "eips", "eip-b") == [("Available", "Associating"),
                                                       ("Associating", "InUse")]
    ips = sorted(e.ip for e in cloud.eips_of_eni("eni-svc"))
    assert ips == ["47.100.0.1", "47.100.0.2"]
    assert [e.allocation_id for e in cloud.describe_eips(ips=["47.100.0.2"])] == ["eip-b"]


def test_instance_types_vswitch_and_agent(world_sim: SimServer, cloud: EcsCloud) -> None:
    limits = cloud.describe_instance_types(["ecs.g7.large"])["ecs.g7.large"]
    assert (limits.max_enis, limits.ips_per_eni) == (3, 10)
    vsw = cloud.describe_vswitch("vsw-b")
    assert (vsw.zone_id, vsw.cidr, vsw.vpc_id) == ("cn-hangzhou-i", "192.168.2.0/24", "vpc-a")
    world_sim.control.cloud_assistant("i-standby", online=False)
    assert cloud.cloud_assistant_online(["i-primary", "i-standby"]) == {
        "i-primary": True, "i-standby": False}
