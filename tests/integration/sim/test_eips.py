"""EIPs through the VPC SDK: NAT / BINDED / MULTI_BINDED rules, async states, moving with the ENI."""

from __future__ import annotations

from typing import Any

from alibabacloud_vpc20160428 import models as vm

from harness.sim import SimServer, small_world
from harness.waiting import wait_for
from tests.integration.sim.util import REGION, attach, detach, expect_error


def eip_world() -> dict[str, Any]:
    w = small_world()
    w["network_interfaces"].append(
        {
            "id": "eni-b",
            "vswitch": "vsw-a",
            "primary_ip": "192.168.1.70",
            "secondary_ips": ["192.168.1.71"],
            "instance": "i-standby",
        }
    )
    w["eips"] += [{"id": "eip-b", "ip": "47.100.0.2"}, {"id": "eip-c", "ip": "47.100.0.3"}]
    return w


def associate(
    vpc: Any, eip: str, eni: str, mode: str | None = None, ip: str | None = None, token: str | None = None
) -> Any:
    return vpc.associate_eip_address(
        vm.AssociateEipAddressRequest(
            region_id=REGION,
            allocation_id=eip,
            instance_id=eni,
            instance_type="NetworkInterface",
            mode=mode,
            private_ip_address=ip,
            client_token=token,
        )
    )


def unassociate(vpc: Any, eip: str, eni: str) -> Any:
    return vpc.unassociate_eip_address(
        vm.UnassociateEipAddressRequest(
            region_id=REGION, allocation_id=eip, instance_id=eni, instance_type="NetworkInterface"
        )
    )


def eip(vpc: Any, eip_id: str) -> Any:
    body = vpc.describe_eip_addresses(
        vm.DescribeEipAddressesRequest(region_id=REGION, allocation_id=eip_id)
    ).body
    return body.eip_addresses.eip_address[0]


def test_describe_eips_and_filters(vpc: Any) -> None:
    row = eip(vpc, "eip-a")
    assert (
        row.ip_address,
        row.status,
        row.instance_id,
        row.instance_type,
        row.mode,
        row.private_ip_address,
    ) == ("47.100.0.1", "InUse", "eni-svc", "NetworkInterface", "NAT", "192.168.1.50")
    body = vpc.describe_eip_addresses(
        vm.DescribeEipAddressesRequest(
            region_id=REGION, associated_instance_type="NetworkInterface", associated_instance_id="eni-svc"
        )
    ).body
    assert body.total_count == 1


def test_nat_one_eip_per_private_ip_and_async_states() -> None:
    w = eip_world()
    w["timing"] = {"eip_s": 0.2}
    with SimServer.from_world(w) as sim:
        vpc = sim.vpc_client()
        expect_error(
            "InvalidAssociation.Duplicated",
            400,
            lambda: associate(vpc, "eip-b", "eni-svc", "NAT", "192.168.1.50"),
        )
        expect_error(
            "InvalidParameter", 400, lambda: associate(vpc, "eip-b", "eni-svc", "NAT", "192.168.1.99")
        )
        associate(vpc, "eip-b", "eni-svc", "NAT", "192.168.1.51")
        assert eip(vpc, "eip-b").status == "Associating"
        expect_error("IncorrectEipStatus", 400, lambda: associate(vpc, "eip-b", "eni-b"))
        wait_for(lambda: eip(vpc, "eip-b").status == "InUse")
        unassociate(vpc, "eip-b", "eni-svc")
        assert eip(vpc, "eip-b").status == "Unassociating"
        wait_for(lambda: eip(vpc, "eip-b").status == "Available")
        assert eip(vpc, "eip-b").instance_id == ""


def test_binded_needs_a_detached_secondary_eni() -> None:
    with SimServer.from_world(eip_world()) as sim:
        vpc, ecs = sim.vpc_client(), sim.ecs_client()
        expect_error("IncorrectInstanceStatus", 400, lambda: associate(vpc, "eip-b", "eni-b", "BINDED"))
        expect_error("IncorrectInstanceStatus", 400, lambda: associate(vpc, "eip-b", "eni-b", "MULTI_BINDED"))
        detach(ecs, "eni-b", "i-standby")
        expect_error(
            "InvalidParameter", 400, lambda: associate(vpc, "eip-b", "eni-b", "BINDED", "192.168.1.71")
        )
        associate(vpc, "eip-b", "eni-b", "BINDED")
        expect_error("InvalidAssociation.Duplicated", 400, lambda: associate(vpc, "eip-c", "eni-b", "BINDED"))
        expect_error("InvalidAssociation.Duplicated", 400, lambda: associate(vpc, "eip-c", "eni-b", "NAT"))
        attach(ecs, "eni-b", "i-standby")
        expect_error("IncorrectInstanceStatus", 400, lambda: unassociate(vpc, "eip-b", "eni-b"))
        assert eip(vpc, "eip-b").mode == "BINDED"


def test_eip_travels_with_the_eni_and_errors(vpc: Any, ecs: Any) -> None:
    detach(ecs, "eni-svc", "i-primary")
    attach(ecs, "eni-svc", "i-standby")
    row = eip(vpc, "eip-a")
    assert (row.status, row.instance_id, row.private_ip_address) == ("InUse", "eni-svc", "192.168.1.50")
    expect_error("InvalidAllocationId.NotFound", 404, lambda: associate(vpc, "eip-zz", "eni-svc"))
    expect_error("InvalidInstanId.NotFound", 404, lambda: associate(vpc, "eip-a", "eni-zz"))
    expect_error(
        "MissingParameter",
        400,
        lambda: vpc.associate_eip_address(
            vm.AssociateEipAddressRequest(region_id=REGION, allocation_id="eip-a")
        ),
    )
    expect_error("InvalidBindingStatus", 400, lambda: unassociate(vpc, "eip-a", "eni-p-i-primary"))
