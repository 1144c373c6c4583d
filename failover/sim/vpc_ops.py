"""VPC EIP operations on ENIs: describe, associate (NAT / BINDED / MULTI_BINDED), unassociate.

An EIP belongs to the ENI, not to the instance, so it travels with the ENI on a move.
"""

from __future__ import annotations

from typing import Any

from failover.sim.protocol import VPC_VERSION, ApiError, get_csv, get_str, page, req_str
from failover.sim.registry import find_eip, find_instance, iso, op, tag_list
from failover.sim.state import State
from failover.sim.world import Eip, Eni

MODES = ("NAT", "BINDED", "MULTI_BINDED")
_ALLOCATED = 1_700_000_000.0


def _render(st: State, eip: Eip) -> dict[str, Any]:
    eni = st.world.enis.get(eip.network_interface or "")
    instance_id, instance_type = "", ""
    if eni is not None:
        instance_id, instance_type = eni.id, eip.instance_type
        if eip.instance_type == "EcsInstance" and eni.instance:
            instance_id = eni.instance
    return {
        "AllocationId": eip.id,
        "IpAddress": eip.ip,
        "Status": eip.status,
        "InstanceId": instance_id,
        "InstanceType": instance_type,
        "InstanceRegionId": st.world.region if eni else "",
        "Mode": eip.mode or "",
        "PrivateIpAddress": eip.private_ip or "",
        "VpcId": st.world.vswitches[eni.vswitch].vpc if eni else "",
        "RegionId": st.world.region,
        "Bandwidth": "5",
        "InternetChargeType": "PayByTraffic",
        "ChargeType": "PostPaid",
        "BusinessStatus": "Normal",
        "AllocationTime": iso(_ALLOCATED),
        "Name": "",
        "Description": "",
        "ISP": "BGP",
        "Netmode": "public",
        "OperationLocks": {"LockReason": []},
        "Tags": tag_list(eip.tags, "Key", "Value"),
    }


@op("DescribeEipAddresses", versions=(VPC_VERSION,))
def describe_eip_addresses(st: State, p: dict[str, str], now: float) -> dict[str, Any]:
    ids, ips = set(get_csv(p, "AllocationId")), set(get_csv(p, "EipAddress"))
    status, a_type, a_id = (
        get_str(p, "Status"),
        get_str(p, "AssociatedInstanceType"),
        get_str(p, "AssociatedInstanceId"),
    )
    rows = []
    for eip in st.world.eips.values():
        row = _render(st, eip)
        if (ids and eip.id not in ids) or (ips and eip.ip not in ips) or (status and eip.status != status):
            continue
        if (a_type and row["InstanceType"] != a_type) or (a_id and row["InstanceId"] != a_id):
            continue
        rows.append(row)
    chunk, fields = page(rows, p, max_results=100, token_mode=False)
    return {**fields, "EipAddresses": {"EipAddress": chunk}}


def _target_eni(st: State, p: dict[str, str]) -> tuple[Eni, str]:
    target = req_str(p, "InstanceId")
    itype = get_str(p, "InstanceType") or "EcsInstance"
    if itype == "NetworkInterface":
        if target not in st.world.enis:
            raise ApiError(
                "InvalidInstanId.NotFound", 404, f"The specified instance {target} does not exist."
            )
        return st.world.enis[target], itype
    if itype == "EcsInstance":
        inst = find_instance(st, target, code="InvalidInstanId.NotFound")
        return st.world.enis[inst.primary_eni], itype
    raise ApiError(
        "InvalidInstanceType.ValueNotSupported", 400, f"InstanceType {itype} is not supported here."
    )


@op("AssociateEipAddress", versions=(VPC_VERSION,), mutates=True, client_token=True)
def associate_eip_address(st: State, p: dict[str, str], now: float) -> dict[str, Any]:
    eip = find_eip(st, req_str(p, "AllocationId"))
    eni, itype = _target_eni(st, p)
    mode = get_str(p, "Mode") or "NAT"
    if mode not in MODES:
        raise ApiError(
            "InvalidParameter", 400, f"The specified Mode {mode} is not valid (NAT, BINDED, MULTI_BINDED)."
        )
    if eip.status != "Available":
        raise ApiError("IncorrectEipStatus", 400, f"The EIP {eip.id} is {eip.status}; it must be Available.")
    private_ip = get_str(p, "PrivateIpAddress") or eni.primary_ip
    if private_ip not in (eni.primary_ip, *eni.secondary_ips):
        raise ApiError("InvalidParameter", 400, f"The private IP {private_ip} does not belong to {eni.id}.")
    bound = [e for e in st.world.eips.values() if e.network_interface == eni.id and e.status != "Available"]
    if mode != "NAT":
        if eni.type == "Primary":
            raise ApiError("OperationDenied", 400, f"{mode} mode needs a secondary ENI.")
        if eni.status != "Available":
            raise ApiError(
                "IncorrectInstanceStatus",
                400,
                f"The ENI {eni.id} is {eni.status}; {mode} mode needs it detached (Available).",
            )
        if mode == "BINDED" and private_ip != eni.primary_ip:
            raise ApiError(
                "InvalidParameter", 400, "BINDED mode maps the EIP to the ENI's primary private IP."
            )
    if any(e.mode != mode for e in bound):
        raise ApiError(
            "InvalidAssociation.Duplicated", 400, f"The ENI {eni.id} already has EIPs in another mode."
        )
    if mode == "BINDED" and bound:
        raise ApiError("InvalidAssociation.Duplicated", 400, f"The ENI {eni.id} already has an EIP.")
    if mode == "NAT" and any(e.private_ip == private_ip for e in bound):
        raise ApiError(
            "InvalidAssociation.Duplicated", 400, f"The private IP {private_ip} already has an EIP."
        )
    if eni.status not in ("Available", "InUse"):
        raise ApiError("IncorrectInstanceStatus", 400, f"The ENI {eni.id} is {eni.status}.")
    eip.network_interface, eip.private_ip, eip.mode, eip.instance_type = eni.id, private_ip, mode, itype
    st.set_status("eips", eip, "Associating", now, network_interface=eni.id, private_ip=private_ip, mode=mode)
    st.schedule("eips", eip, [{"status": "InUse", "due": now + st.timing("eip", eip.id)}])
    return {}


@op("UnassociateEipAddress", versions=(VPC_VERSION,), mutates=True, client_token=True)
def unassociate_eip_address(st: State, p: dict[str, str], now: float) -> dict[str, Any]:
    eip = find_eip(st, req_str(p, "AllocationId"))
    eni, _ = _target_eni(st, p)
    if eip.status != "InUse":
        raise ApiError("IncorrectEipStatus", 400, f"The EIP {eip.id} is {eip.status}; it must be InUse.")
    if eip.network_interface != eni.id:
        raise ApiError("InvalidBindingStatus", 400, f"The EIP {eip.id} is not associated with {eni.id}.")
    if eip.mode in ("BINDED", "MULTI_BINDED") and eni.status != "Available":
        raise ApiError(
            "IncorrectInstanceStatus",
            400,
            f"The ENI {eni.id} is {eni.status}; {eip.mode} mode needs it detached to unassociate.",
        )
    st.set_status("eips", eip, "Unassociating", now)
    st.schedule(
        "eips", eip, [{"status": "Available", "due": now + st.timing("eip", eip.id), "effect": "unbound"}]
    )
    return {}
