"""ENI operations through the official SDK over HTTP: the state machine and every precondition."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_ecs20140526 import models as m

from harness.sim import SimServer, small_world
from harness.waiting import wait_for
from tests.integration.sim.util import REGION, attach, detach, eni_status, expect_error


def _inst(iid: str, ip: str, **kw: Any) -> dict[str, Any]:
    base = {
        "id": iid,
        "vswitch": "vsw-a",
        "status": "Running",
        "type": "ecs.g7.large",
        "primary_ip": ip,
        "max_enis": 3,
        "max_ips_per_eni": 10,
        "hotplug": True,
    }
    return {**base, **kw}


def rich_world() -> dict[str, Any]:
    w = small_world(timing={"attach_s": 0.0, "detach_s": 0.0})
    w["vpcs"].append(
        {"id": "vpc-b", "vswitches": [{"id": "vsw-x", "zone": "cn-hangzhou-h", "cidr": "10.0.0.0/24"}]}
    )
    w["instances"] += [
        _inst("i-otherzone", "192.168.2.10", vswitch="vsw-b"),
        _inst("i-othervpc", "10.0.0.10", vswitch="vsw-x"),
        _inst("i-cold", "192.168.1.12", type="ecs.t5.small", hotplug=False, max_enis=2, max_ips_per_eni=2),
        _inst("i-stopping", "192.168.1.13", status="Stopping"),
        _inst("i-full", "192.168.1.14", type="ecs.g7.small", max_enis=1, max_ips_per_eni=2),
        _inst("i-tiny", "192.168.1.15", type="ecs.g7.tiny", max_enis=3, max_ips_per_eni=1),
    ]
    w["network_interfaces"] += [
        {"id": "eni-free", "vswitch": "vsw-a", "security_groups": ["sg-a"], "primary_ip": "192.168.1.60"},
        {"id": "eni-free2", "vswitch": "vsw-a", "security_groups": ["sg-a"], "primary_ip": "192.168.1.61"},
    ]
    return w


@pytest.fixture
def world_sim() -> Iterator[SimServer]:
    with SimServer.from_world(rich_world()) as s:
        yield s


def test_describe_shows_secondary_and_implicit_primary_enis(ecs: Any) -> None:
    body = ecs.describe_network_interfaces(
        m.DescribeNetworkInterfacesRequest(region_id=REGION, max_results=50)
    ).body
    by_id = {e.network_interface_id: e for e in body.network_interface_sets.network_interface_set}
    assert (
        by_id["eni-p-i-primary"].type == "Primary"
        and by_id["eni-p-i-primary"].private_ip_address == "192.168.1.10"
    )
    svc = by_id["eni-svc"]
    assert (svc.status, svc.type, svc.instance_id, svc.vpc_id, svc.zone_id) == (
        "InUse",
        "Secondary",
        "i-primary",
        "vpc-a",
        "cn-hangzhou-h",
    )
    assert svc.mac_address == "00:16:3e:00:00:50"
    assert svc.security_group_ids.security_group_id == ["sg-a"]
    ips = {s.private_ip_address: s for s in svc.private_ip_sets.private_ip_set}
    assert ips["192.168.1.50"].primary and not ips["192.168.1.51"].primary
    assert ips["192.168.1.50"].associated_public_ip.public_ip_address == "47.100.0.1"
    filtered = ecs.describe_network_interfaces(
        m.DescribeNetworkInterfacesRequest(region_id=REGION, instance_id="i-primary", type="Secondary")
    ).body
    assert [e.network_interface_id for e in filtered.network_interface_sets.network_interface_set] == [
        "eni-svc"
    ]
    by_ip = ecs.describe_network_interfaces(
        m.DescribeNetworkInterfacesRequest(region_id=REGION, private_ip_address=["192.168.1.51"])
    ).body
    assert [e.network_interface_id for e in by_ip.network_interface_sets.network_interface_set] == ["eni-svc"]


def test_describe_paginates_with_next_token_and_page_number() -> None:
    w = small_world()
    w["network_interfaces"] = [
        {"id": f"eni-{i:03d}", "vswitch": "vsw-a", "primary_ip": f"192.168.1.{100 + i}"} for i in range(25)
    ]
    w["eips"] = []
    with SimServer.from_world(w) as sim:
        ecs = sim.ecs_client()
        seen, token, pages = [], None, 0
        while True:
            body = ecs.describe_network_interfaces(
                m.DescribeNetworkInterfacesRequest(region_id=REGION, max_results=10, next_token=token)
            ).body
            seen += [e.network_interface_id for e in body.network_interface_sets.network_interface_set]
            pages += 1
            token = body.next_token
            if not token:
                break
        assert pages == 3 and len(seen) == 27 and len(set(seen)) == 27  # 25 + 2 primary ENIs
        # MaxResults below 10 is raised to 10, as the real API does
        body = ecs.describe_network_interfaces(
            m.DescribeNetworkInterfacesRequest(region_id=REGION, max_results=3)
        ).body
        assert len(body.network_interface_sets.network_interface_set) == 10
        body = ecs.describe_network_interfaces(
            m.DescribeNetworkInterfacesRequest(region_id=REGION, page_number=3, page_size=10)
        ).body
        assert (
            body.total_count,
            body.page_number,
            len(body.network_interface_sets.network_interface_set),
        ) == (27, 3, 7)
        expect_error(
            "InvalidParameter",
            400,
            lambda: ecs.describe_network_interfaces(
                m.DescribeNetworkInterfacesRequest(region_id=REGION, next_token="garbage")
            ),
        )


def test_move_goes_through_detaching_and_attaching_with_the_world_timing() -> None:
    with SimServer.from_world(small_world(timing={"attach_s": 0.3, "detach_s": 0.3})) as sim:
        ecs = sim.ecs_client()
        detach(ecs, "eni-svc", "i-primary")
        assert eni_status(ecs, "eni-svc") == ("Detaching", "i-primary")
        detach(ecs, "eni-svc", "i-primary")  # accepted again while Detaching
        expect_error("InvalidOperation.InvalidEniState", 400, lambda: attach(ecs, "eni-svc", "i-standby"))
        wait_for(lambda: eni_status(ecs, "eni-svc")[0] == "Available")
        attach(ecs, "eni-svc", "i-standby")
        assert eni_status(ecs, "eni-svc") == ("Attaching", "i-standby")
        wait_for(lambda: eni_status(ecs, "eni-svc") == ("InUse", "i-standby"))
        events = [e for e in sim.control.events() if e["kind"] == "enis" and e["id"] == "eni-svc"]
        assert [e["to"] for e in events] == ["Detaching", "Available", "Attaching", "InUse"]
        # event times are the emulator's own transition times: each step took the configured 0.3 s
        assert events[1]["t"] - events[0]["t"] == pytest.approx(0.3, abs=1e-6)
        assert events[3]["t"] - events[2]["t"] == pytest.approx(0.3, abs=1e-6)
        # the IPs and the EIP travelled with the ENI
        body = ecs.describe_network_interface_attribute(
            m.DescribeNetworkInterfaceAttributeRequest(region_id=REGION, network_interface_id="eni-svc")
        ).body
        assert [s.private_ip_address for s in body.private_ip_sets.private_ip_set] == [
            "192.168.1.50",
            "192.168.1.51",
        ]
        assert body.associated_public_ip.allocation_id == "eip-a"


def test_failed_attach_falls_back_to_available(sim: SimServer, ecs: Any) -> None:
    detach(ecs, "eni-svc", "i-primary")
    sim.control.fail_next_attach("eni-svc")
    attach(ecs, "eni-svc", "i-standby")
    assert eni_status(ecs, "eni-svc") == ("Available", "")
    attach(ecs, "eni-svc", "i-standby")
    assert eni_status(ecs, "eni-svc") == ("InUse", "i-standby")


def test_attach_preconditions_answer_the_documented_codes(world_sim: SimServer) -> None:
    ecs = world_sim.ecs_client()
    expect_error("InvalidEniId.NotFound", 404, lambda: attach(ecs, "eni-nope", "i-standby"))
    expect_error("InvalidEcsId.NotFound", 404, lambda: attach(ecs, "eni-free", "i-nope"))
    expect_error("InvalidOperation.InvalidEniState", 400, lambda: attach(ecs, "eni-svc", "i-standby"))
    expect_error(
        "InvalidOperation.AvailabilityZoneMismatch", 403, lambda: attach(ecs, "eni-free", "i-otherzone")
    )
    expect_error("InvalidOperation.VpcMismatch", 403, lambda: attach(ecs, "eni-free", "i-othervpc"))
    expect_error("InvalidOperation.InvalidEcsState", 400, lambda: attach(ecs, "eni-free", "i-stopping"))
    expect_error("InvalidOperation.InvalidEcsState", 400, lambda: attach(ecs, "eni-free", "i-cold"))
    expect_error("EniPerInstanceLimitExceeded", 403, lambda: attach(ecs, "eni-free", "i-full"))
    _two_ips(ecs)
    expect_error("InvalidOperation.Ipv4CountExceeded", 403, lambda: attach(ecs, "eni-free", "i-tiny"))
    expect_error("InvalidOperation.InvalidEniType", 403, lambda: attach(ecs, "eni-p-i-primary", "i-standby"))
    expect_error(
        "MissingParameter",
        400,
        lambda: ecs.attach_network_interface(
            m.AttachNetworkInterfaceRequest(region_id=REGION, network_interface_id="eni-free")
        ),
    )
    # a type that needs Stopped attaches once it is stopped
    ecs.stop_instance(m.StopInstanceRequest(instance_id="i-cold"))
    attach(ecs, "eni-free", "i-cold")
    assert eni_status(ecs, "eni-free") == ("InUse", "i-cold")
    # the third ENI exceeds the instance's max_enis (2: primary + eni-free)
    expect_error("EniPerInstanceLimitExceeded", 403, lambda: attach(ecs, "eni-free2", "i-cold"))


def _two_ips(ecs: Any) -> None:
    """Gives eni-free a secondary IP (2 IPs), more than i-tiny's 1 per ENI."""
    ecs.assign_private_ip_addresses(
        m.AssignPrivateIpAddressesRequest(
            region_id=REGION, network_interface_id="eni-free", private_ip_address=["192.168.1.70"]
        )
    )


def test_detach_preconditions(world_sim: SimServer) -> None:
    ecs = world_sim.ecs_client()
    expect_error(
        "InvalidOperation.DetachPrimaryEniNotAllowed",
        400,
        lambda: detach(ecs, "eni-p-i-primary", "i-primary"),
    )
    expect_error("InvalidOperation.InvalidEniState", 400, lambda: detach(ecs, "eni-free", "i-primary"))
    expect_error("InvalidOperation.InvalidEniState", 400, lambda: detach(ecs, "eni-svc", "i-standby"))
    expect_error("InvalidEniId.NotFound", 404, lambda: detach(ecs, "eni-nope", "i-primary"))
    expect_error("InvalidEcsId.NotFound", 404, lambda: detach(ecs, "eni-svc", "i-nope"))
    expect_error(
        "MissingParameter",
        400,
        lambda: ecs.detach_network_interface(
            m.DetachNetworkInterfaceRequest(region_id=REGION, network_interface_id="eni-svc")
        ),
    )


def test_hung_instance_keeps_the_eni_detaching_until_force_stopped(sim: SimServer, ecs: Any) -> None:
    sim.control.hang("i-primary")
    detach(ecs, "eni-svc", "i-primary")
    time.sleep(0.05)
    assert eni_status(ecs, "eni-svc") == ("Detaching", "i-primary")
    detach(ecs, "eni-svc", "i-primary")  # re-issuing does not help a hung guest
    ecs.stop_instance(m.StopInstanceRequest(instance_id="i-primary"))  # graceful: ignored
    time.sleep(0.05)
    assert eni_status(ecs, "eni-svc")[0] == "Detaching"
    status = ecs.describe_instance_status(
        m.DescribeInstanceStatusRequest(region_id=REGION, instance_id=["i-primary"])
    )
    assert status.body.instance_statuses.instance_status[0].status == "Stopping"
    ecs.stop_instance(m.StopInstanceRequest(instance_id="i-primary", force_stop=True))
    assert eni_status(ecs, "eni-svc") == ("Available", "")
    attach(ecs, "eni-svc", "i-standby")
    assert eni_status(ecs, "eni-svc") == ("InUse", "i-standby")


def test_hang_from_the_world_file() -> None:
    w = small_world()
    w["instances"][0]["hung"] = True
    with SimServer.from_world(w) as sim:
        ecs = sim.ecs_client()
        detach(ecs, "eni-svc", "i-primary")
        assert eni_status(ecs, "eni-svc")[0] == "Detaching"
        sim.control.unhang("i-primary")
        assert eni_status(ecs, "eni-svc") == ("Available", "")
