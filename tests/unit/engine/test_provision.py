"""Provisioning plans: each item from config and cloud facts, and their execution through the port."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from failover.config import GroupConfig
from failover.engine.provision import Associate, Plan, ProvisionFacts, apply, plan
from failover.model import CloudError, EipInfo, EniState, EniStatus, ErrorKind
from tests.unit.engine.fakes import FakeProvisioning

REGION = "cn-hangzhou"
ENI = EniState("eni-svc", EniStatus.IN_USE, "i-a", "00:16:3e:00:00:50", "192.168.1.50",
               ("192.168.1.50", "192.168.1.51"), "vsw-a", "vpc-a", "zone-h")
EIP_A = EipInfo("eip-a", "47.100.0.1", "InUse", "eni-svc", "NetworkInterface", "192.168.1.50", "NAT")
EIP_B = EipInfo("eip-b", "47.100.0.2", "Available", None, None, None, None)


def group(**over: Any) -> GroupConfig:
    doc: dict[str, Any] = {"name": "web", "network_interface": "eni-svc", "members": ["i-a", "i-b"],
                           "service_ips": ["192.168.1.51"], "eips": ["47.100.0.1"],
                           "checks": [{"type": "tcp", "port": 80}]}
    doc.update(over)
    return GroupConfig.model_validate(doc)


def facts(eni: EniState | None = ENI, eips: tuple[EipInfo, ...] = (EIP_A, EIP_B),
          cidr: str | None = "192.168.1.0/24") -> ProvisionFacts:
    on_eni = tuple(e for e in eips if eni is not None and e.instance_id == eni.eni_id)
    return ProvisionFacts(eni, cidr, {e.ip: e for e in eips}, on_eni)


def make(g: GroupConfig | None = None, f: ProvisionFacts | None = None) -> Plan:
    return plan(0, g or group(), REGION, f or facts())


def test_a_matching_cloud_gives_an_empty_plan() -> None:
    p = make()
    assert (p.changes, p.assign, p.associate, p.manual, p.findings()) == (False, (), (), (), [])


def test_a_missing_service_ip_is_assigned() -> None:
    p = make(group(service_ips=["192.168.1.51", "192.168.1.52", "192.168.1.53"]))
    assert [(a.path, a.ip) for a in p.assign] == [("groups[0].service_ips[1]", "192.168.1.52"),
                                                   ("groups[0].service_ips[2]", "192.168.1.53")]
    assert p.findings()[0].line() == ("error: groups[0].service_ips[1]: 192.168.1.52 is not assigned "
                                      "to eni-svc; run `failover provision web`")


def test_a_service_ip_outside_the_vswitch_is_left_for_a_person() -> None:
    p = make(group(service_ips=["192.168.1.51", "10.0.0.5"]))
    assert p.assign == () and p.blocked
    assert p.manual[0].path == "groups[0].service_ips[1]"
    assert "outside eni-svc's vSwitch vsw-a (192.168.1.0/24)" in p.manual[0].what


def test_an_extra_ip_is_reported_with_the_command_that_removes_it() -> None:
    p = make(f=facts(eni=replace(ENI, private_ips=(*ENI.private_ips, "192.168.1.60"))))
    assert not p.changes and not p.blocked
    [m] = p.manual
    assert m.step.endswith("aliyun ecs UnassignPrivateIpAddresses --RegionId cn-hangzhou "
                           "--NetworkInterfaceId eni-svc --PrivateIpAddress.1 192.168.1.60")
    assert p.findings()[0].line().startswith("warning: groups[0].service_ips: 192.168.1.60 is on eni-svc")


def test_a_missing_eip_goes_to_the_first_private_ip_without_one() -> None:
    p = make(group(eips=["47.100.0.1", "47.100.0.2"]))
    assert p.associate == (Associate("groups[0].eips[1]", "eip-b", "47.100.0.2", "eni-svc", "192.168.1.51"),)
    # Two new EIPs, one of them for a service IP this very plan assigns.
    eip_c = replace(EIP_B, allocation_id="eip-c", ip="47.100.0.3")
    p2 = make(group(service_ips=["192.168.1.51", "192.168.1.52"], eips=["47.100.0.1", "47.100.0.2", "47.100.0.3"]),
              facts(eips=(EIP_A, EIP_B, eip_c)))
    assert [(a.allocation_id, a.private_ip) for a in p2.associate] == [("eip-b", "192.168.1.51"),
                                                                       ("eip-c", "192.168.1.52")]


def test_no_private_ip_left_for_an_eip() -> None:
    p = make(group(service_ips=[], eips=["47.100.0.1", "47.100.0.2"]),
             facts(eni=replace(ENI, private_ips=("192.168.1.50",))))
    assert p.associate == () and p.blocked
    assert "every private IP of eni-svc already has an EIP" in p.manual[0].what


def test_an_eip_associated_elsewhere_is_not_moved() -> None:
    elsewhere = replace(EIP_B, status="InUse", instance_id="eni-other", instance_type="NetworkInterface",
                        private_ip="192.168.1.70", mode="NAT")
    p = make(group(eips=["47.100.0.1", "47.100.0.2"]), facts(eips=(EIP_A, elsewhere)))
    assert not p.changes and p.blocked
    [m] = p.manual
    assert m.path == "groups[0].eips[1]"
    assert "is associated with eni-other, not eni-svc" in m.what
    assert m.step.startswith("aliyun vpc UnassociateEipAddress --RegionId cn-hangzhou --AllocationId eip-b "
                             "--InstanceId eni-other --InstanceType NetworkInterface")


def test_an_unknown_or_busy_eip() -> None:
    p = make(group(eips=["47.100.0.1", "47.100.0.9"]))
    assert p.manual[0].what == "EIP 47.100.0.9 not found in cn-hangzhou" and p.blocked
    busy = replace(EIP_B, status="Unassociating")
    p2 = make(group(eips=["47.100.0.1", "47.100.0.2"]), facts(eips=(EIP_A, busy)))
    assert "is Unassociating" in p2.manual[0].what and not p2.changes


def test_a_binded_eni_needs_detaching_for_another_eip() -> None:
    binded = replace(EIP_A, mode="BINDED")
    p = make(group(eips=["47.100.0.1", "47.100.0.2"]), facts(eips=(binded, EIP_B)))
    assert not p.changes
    [m] = p.manual
    assert "BINDED mode, which takes another EIP only while the ENI is detached" in m.what
    assert "--Mode BINDED" in m.step


def test_an_eip_the_config_does_not_list_is_left_alone() -> None:
    p = make(group(eips=[]))
    assert not p.changes and not p.blocked
    assert p.manual[0].path == "groups[0].eips"
    assert "EIP 47.100.0.1 (eip-a) is on eni-svc but not in eips" in p.manual[0].what


def test_a_missing_eni_is_a_blocking_finding() -> None:
    p = make(f=facts(eni=None))
    assert p.blocked and not p.changes
    assert p.findings()[0].line().startswith("error: groups[0].network_interface: ENI eni-svc not found")


def test_apply_assigns_in_one_call_then_associates_each_eip() -> None:
    p = make(group(service_ips=["192.168.1.51", "192.168.1.52"], eips=["47.100.0.1", "47.100.0.2"]))
    port = FakeProvisioning()
    tokens = iter(["tok-1", "tok-2"])
    outcomes = apply(p, port, token=lambda: next(tokens))
    assert port.calls == [("assign", "eni-svc", "tok-1", "192.168.1.52"),
                          ("associate", "eip-b", "eni-svc", "192.168.1.51", "NAT", "tok-2")]
    assert [o.ok for o in outcomes] == [True, True]


def test_a_failed_assign_skips_the_eips_that_needed_it_and_goes_on() -> None:
    eip_c = replace(EIP_B, allocation_id="eip-c", ip="47.100.0.3")
    p = make(group(service_ips=["192.168.1.51", "192.168.1.52"], eips=["47.100.0.1", "47.100.0.2", "47.100.0.3"]),
             facts(eips=(EIP_A, EIP_B, eip_c)))
    port = FakeProvisioning()
    port.fail["assign"] = CloudError("IP taken", kind=ErrorKind.FATAL, code="InvalidIp.IpAssigned")
    outcomes = apply(p, port)
    assert [(o.ok, o.detail) for o in outcomes] == [
        (False, "IP taken"), (True, ""), (False, "skipped: 192.168.1.52 was not assigned")]
    assert [c[0] for c in port.calls] == ["assign", "associate"]
    assert port.calls[0][2] != port.calls[1][5]  # every write has its own ClientToken
