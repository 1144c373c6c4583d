"""Secondary private IPs through the SDK: CIDR, uniqueness, the 10 / per-type / security-group limits."""

from __future__ import annotations

from typing import Any

from alibabacloud_ecs20140526 import models as m

from harness.sim import SimServer, small_world
from tests.integration.sim.util import REGION, attach, detach, expect_error


def assign(
    ecs: Any, eni: str, ips: list[str] | None = None, count: int | None = None, token: str | None = None
) -> Any:
    return ecs.assign_private_ip_addresses(
        m.AssignPrivateIpAddressesRequest(
            region_id=REGION,
            network_interface_id=eni,
            private_ip_address=ips,
            secondary_private_ip_address_count=count,
            client_token=token,
        )
    ).body


def unassign(ecs: Any, eni: str, ips: list[str]) -> Any:
    return ecs.unassign_private_ip_addresses(
        m.UnassignPrivateIpAddressesRequest(
            region_id=REGION, network_interface_id=eni, private_ip_address=ips
        )
    )


def eni_ips(ecs: Any, eni: str) -> list[str]:
    body = ecs.describe_network_interface_attribute(
        m.DescribeNetworkInterfaceAttributeRequest(region_id=REGION, network_interface_id=eni)
    ).body
    return [s.private_ip_address for s in body.private_ip_sets.private_ip_set]


def test_assign_explicit_and_automatic_then_unassign(ecs: Any) -> None:
    body = assign(ecs, "eni-svc", ["192.168.1.52", "192.168.1.53"])
    assert body.assigned_private_ip_addresses_set.private_ip_set.private_ip_address == [
        "192.168.1.52",
        "192.168.1.53",
    ]
    auto = assign(ecs, "eni-svc", count=2).assigned_private_ip_addresses_set.private_ip_set.private_ip_address
    assert len(auto) == 2 and all(ip.startswith("192.168.1.") for ip in auto)
    assert eni_ips(ecs, "eni-svc") == ["192.168.1.50", "192.168.1.51", "192.168.1.52", "192.168.1.53", *auto]
    unassign(ecs, "eni-svc", ["192.168.1.52"])
    assert "192.168.1.52" not in eni_ips(ecs, "eni-svc")


def test_assign_errors(ecs: Any) -> None:
    expect_error("InvalidVSwitchId.IpInvalid", 403, lambda: assign(ecs, "eni-svc", ["10.9.9.9"]))
    expect_error(
        "InvalidVSwitchId.IpInvalid", 403, lambda: assign(ecs, "eni-svc", ["192.168.1.255"])
    )  # reserved
    expect_error("InvalidIp.IpAssigned", 403, lambda: assign(ecs, "eni-svc", ["192.168.1.10"]))  # i-primary's
    expect_error("InvalidParameter", 400, lambda: assign(ecs, "eni-svc", ["not-an-ip"]))
    expect_error("MissingParameter", 400, lambda: assign(ecs, "eni-svc"))
    expect_error("InvalidEniId.NotFound", 404, lambda: assign(ecs, "eni-nope", ["192.168.1.80"]))
    expect_error("InvalidIp.IpUnassigned", 403, lambda: unassign(ecs, "eni-svc", ["192.168.1.99"]))
    expect_error("InvalidIp.IpUnassigned", 403, lambda: unassign(ecs, "eni-svc", ["192.168.1.50"]))  # primary


def test_unassigning_an_ip_an_eip_maps_to_is_refused() -> None:
    w = small_world()
    w["eips"][0]["private_ip"] = "192.168.1.51"
    with SimServer.from_world(w) as sim:
        expect_error(
            "InvalidOperation.IpBoundToEip",
            403,
            lambda: unassign(sim.ecs_client(), "eni-svc", ["192.168.1.51"]),
        )


def test_ip_limits_depend_on_the_eni_state() -> None:
    w = small_world()
    w["instances"][1].update(type="ecs.g7.xlarge", max_ips_per_eni=12)
    with SimServer.from_world(w) as sim:
        ecs = sim.ecs_client()
        detach(ecs, "eni-svc", "i-primary")
        assign(ecs, "eni-svc", count=8)  # 10 in total: the limit while Available
        expect_error("InvalidOperation.Ipv4CountExceeded", 403, lambda: assign(ecs, "eni-svc", count=1))
        attach(ecs, "eni-svc", "i-standby")
        assign(ecs, "eni-svc", count=2)  # InUse on a type with 12 per ENI
        expect_error("InvalidOperation.Ipv4CountExceeded", 403, lambda: assign(ecs, "eni-svc", count=1))


def test_security_group_ip_limit() -> None:
    with SimServer.from_world(small_world(limits={"security_group_ips": 4})) as sim:
        ecs = sim.ecs_client()
        assign(ecs, "eni-svc", count=2)  # 4 IPs in sg-a
        expect_error("SecurityGroupInstanceLimitExceed", 403, lambda: assign(ecs, "eni-svc", count=1))


def test_ip_change_refused_while_the_eni_moves() -> None:
    with SimServer.from_world(small_world(timing={"detach_s": 30})) as sim:
        ecs = sim.ecs_client()
        detach(ecs, "eni-svc", "i-primary")
        expect_error("InvalidOperation.InvalidEniState", 400, lambda: assign(ecs, "eni-svc", count=1))


def test_client_token_replays_and_detects_mismatch(ecs: Any) -> None:
    first = assign(ecs, "eni-svc", ["192.168.1.60"], token="tok-1")
    again = assign(ecs, "eni-svc", ["192.168.1.60"], token="tok-1")
    assert (
        again.assigned_private_ip_addresses_set.to_map() == first.assigned_private_ip_addresses_set.to_map()
    )
    assert eni_ips(ecs, "eni-svc").count("192.168.1.60") == 1
    expect_error(
        "IdempotentParameterMismatch", 400, lambda: assign(ecs, "eni-svc", ["192.168.1.61"], token="tok-1")
    )
