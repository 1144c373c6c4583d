"""ECS ENI operations: describe, attach/detach (the asynchronous state machine), private IPs."""

from __future__ import annotations

import ipaddress
from typing import Any

from failover.sim.draws import transition_rng
from failover.sim.protocol import ApiError, get_int, get_list, get_str, invalid, missing, page, req_str
from failover.sim.registry import bound_eips, find_eni, find_instance, iso, op, public_ip, tag_list
from failover.sim.state import State
from failover.sim.world import Eip, Eni, Instance

_START = 1_700_000_000.0


def shown(st: State, eni: Eni, now: float) -> tuple[str, str | None]:
    """The (status, instance) describes show: the state of a moment ago while an accepted call
    lags (`describe_lag_s`), a status shown instead of the real one, and no instance while
    Attaching when the behaviour hides it."""
    status, instance = eni.status, eni.instance
    if eni.lagged is not None and now < float(eni.lagged["until"]):
        status, instance = str(eni.lagged["status"]), eni.lagged["instance"]
    if eni.shown_status is not None:
        status = eni.shown_status
    if status == "Attaching" and st.behaviour.hide_attaching_instance:
        instance = None
    return status, instance


def _lag(st: State, eni: Eni, now: float) -> None:
    """An accepted call: describes keep showing the state before it for `describe_lag_s`."""
    lag = st.behaviour.describe_lag_s
    if lag <= 0:
        return
    if eni.lagged is None or now >= float(eni.lagged["until"]):
        eni.lagged = {"status": eni.status, "instance": eni.instance}
    eni.lagged["until"] = now + lag


def _refuse_if_shown(eni: Eni) -> None:
    if eni.shown_status is not None:
        raise ApiError(
            "InvalidOperation.InvalidEniState",
            400,
            f"The ENI {eni.id} is {eni.shown_status}; the operation is not allowed in this state.",
        )


def render_eni(st: State, eni: Eni, eips: dict[tuple[str, str], Eip], now: float) -> dict[str, Any]:
    vsw = st.world.vswitches[eni.vswitch]
    status, instance = shown(st, eni, now)
    ip_sets = []
    for ip in [eni.primary_ip, *eni.secondary_ips]:
        item: dict[str, Any] = {"PrivateIpAddress": ip, "Primary": ip == eni.primary_ip}
        eip = eips.get((eni.id, ip))
        if eip is not None:
            item["AssociatedPublicIp"] = public_ip(eip)
        ip_sets.append(item)
    out: dict[str, Any] = {
        "NetworkInterfaceId": eni.id,
        "Status": status,
        "Type": eni.type,
        "InstanceId": instance or "",
        "VpcId": vsw.vpc,
        "VSwitchId": vsw.id,
        "ZoneId": vsw.zone,
        "MacAddress": eni.mac,
        "PrivateIpAddress": eni.primary_ip,
        "NetworkInterfaceName": eni.name,
        "Description": "",
        "CreationTime": iso(_START),
        "DeleteOnRelease": eni.type == "Primary",
        "ResourceGroupId": "",
        "ServiceManaged": False,
        "SourceDestCheck": True,
        "NetworkInterfaceTrafficMode": "Standard",
        "SecurityGroupIds": {"SecurityGroupId": list(eni.security_groups)},
        "PrivateIpSets": {"PrivateIpSet": ip_sets},
        "Ipv6Sets": {"Ipv6Set": []},
        "Tags": tag_list(eni.tags),
        "AssociatedPublicIp": public_ip(eips.get((eni.id, eni.primary_ip))),
    }
    if instance is not None and status != "Available":
        out["Attachment"] = {
            "InstanceId": instance,
            "DeviceIndex": eni.device_index or 0,
            "TrunkNetworkInterfaceId": "",
        }
    return out


@op("DescribeNetworkInterfaces")
def describe_network_interfaces(st: State, p: dict[str, str], now: float) -> dict[str, Any]:
    ids = get_list(p, "NetworkInterfaceId")
    ips = set(get_list(p, "PrivateIpAddress"))
    filters = {
        k: get_str(p, k)
        for k in (
            "InstanceId",
            "VpcId",
            "VSwitchId",
            "SecurityGroupId",
            "Status",
            "Type",
            "PrimaryIpAddress",
            "NetworkInterfaceName",
        )
    }
    pool = [st.world.enis[i] for i in ids if i in st.world.enis] if ids else list(st.world.enis.values())
    found = []
    for eni in pool:
        vsw = st.world.vswitches[eni.vswitch]
        status, instance = shown(st, eni, now)
        checks = (
            (filters["InstanceId"], instance),
            (filters["VpcId"], vsw.vpc),
            (filters["VSwitchId"], vsw.id),
            (filters["Status"], status),
            (filters["Type"], eni.type),
            (filters["PrimaryIpAddress"], eni.primary_ip),
            (filters["NetworkInterfaceName"], eni.name),
        )
        if any(want is not None and want != have for want, have in checks):
            continue
        if filters["SecurityGroupId"] is not None and filters["SecurityGroupId"] not in eni.security_groups:
            continue
        if ips and not ips & {eni.primary_ip, *eni.secondary_ips}:
            continue
        found.append(eni)
    chunk, fields = page(found, p, max_results=500, min_results=10)
    eips = bound_eips(st)
    return {
        **fields,
        "NetworkInterfaceSets": {"NetworkInterfaceSet": [render_eni(st, e, eips, now) for e in chunk]},
    }


@op("DescribeNetworkInterfaceAttribute")
def describe_network_interface_attribute(st: State, p: dict[str, str], now: float) -> dict[str, Any]:
    return render_eni(st, find_eni(st, req_str(p, "NetworkInterfaceId")), bound_eips(st), now)


def _instance_can_plug(inst: Instance) -> None:
    if inst.status not in ("Running", "Stopped") or inst.plan:
        raise ApiError(
            "InvalidOperation.InvalidEcsState",
            400,
            f"The operation is not allowed in the current ECS state: {inst.id} is {inst.status}; "
            "it must be Running or Stopped.",
        )
    if not inst.hotplug and inst.status != "Stopped":
        raise ApiError(
            "InvalidOperation.InvalidEcsState",
            400,
            f"The operation is not allowed in the current ECS state: the instance type {inst.type} "
            "takes or releases an ENI only while Stopped.",
        )


def attached_to(st: State, instance_id: str) -> list[Eni]:
    return [e for e in st.world.enis.values() if e.instance == instance_id]


@op("AttachNetworkInterface", mutates=True)
def attach_network_interface(st: State, p: dict[str, str], now: float) -> dict[str, Any]:
    eni = find_eni(st, req_str(p, "NetworkInterfaceId"))
    inst = find_instance(st, req_str(p, "InstanceId"), code="InvalidEcsId.NotFound")
    get_int(p, "NetworkCardIndex", lo=0, hi=7)
    if eni.type == "Primary":
        raise ApiError("InvalidOperation.InvalidEniType", 403, "A primary ENI cannot be attached.")
    _refuse_if_shown(eni)
    if eni.status != "Available":
        raise ApiError(
            "InvalidOperation.InvalidEniState",
            400,
            f"The ENI {eni.id} is {eni.status}; it must be Available.",
        )
    eni_vsw, inst_vsw = st.world.vswitches[eni.vswitch], st.world.vswitches[inst.vswitch]
    if eni_vsw.vpc != inst_vsw.vpc:
        raise ApiError("InvalidOperation.VpcMismatch", 403, "The ENI and the instance are in different VPCs.")
    if eni_vsw.zone != inst_vsw.zone:
        raise ApiError(
            "InvalidOperation.AvailabilityZoneMismatch",
            403,
            "The ENI and the instance are in different zones.",
        )
    _instance_can_plug(inst)
    held = attached_to(st, inst.id)
    if len(held) >= inst.max_enis:
        raise ApiError(
            "EniPerInstanceLimitExceeded",
            403,
            f"The instance {inst.id} already has {len(held)} ENIs (type limit {inst.max_enis}).",
        )
    if 1 + len(eni.secondary_ips) > inst.max_ips_per_eni:
        raise ApiError(
            "InvalidOperation.Ipv4CountExceeded",
            403,
            f"The ENI holds more private IPs than {inst.type} allows per ENI ({inst.max_ips_per_eni}).",
        )
    used = {e.device_index for e in held}
    _lag(st, eni, now)
    eni.instance = inst.id
    eni.device_index = next(i for i in range(1, len(used) + 2) if i not in used)
    st.set_status("enis", eni, "Attaching", now, instance=inst.id, mac=eni.mac)
    fate = st.draw("attach", eni.id)
    due = now + fate.duration_s
    if fate.fails:  # the profile's occasional failure: Attaching -> Available, never InUse
        failed = {"error": "attach failed (timing profile)", "instance": inst.id}
        st.schedule("enis", eni, [{"status": "Available", "due": due, "effect": "attach_failed",
                                   "detail": failed}])
    else:
        st.schedule("enis", eni, [{"status": "InUse", "due": due, "effect": "attached"}])
    return {}


@op("DetachNetworkInterface", mutates=True)
def detach_network_interface(st: State, p: dict[str, str], now: float) -> dict[str, Any]:
    eni = find_eni(st, req_str(p, "NetworkInterfaceId"))
    inst = find_instance(st, req_str(p, "InstanceId"), code="InvalidEcsId.NotFound")
    if eni.type == "Primary":
        raise ApiError(
            "InvalidOperation.DetachPrimaryEniNotAllowed", 400, "The primary ENI cannot be detached."
        )
    _refuse_if_shown(eni)
    if eni.status == "Detaching" and eni.instance == inst.id:
        # re-issuing a detach is legal and changes nothing; the log shows it was asked again
        st.event("calls", eni.id, None, "DetachNetworkInterface", now, instance=inst.id, reissue=True)
        return {}
    if eni.status != "InUse" or eni.instance != inst.id:
        raise ApiError(
            "InvalidOperation.InvalidEniState",
            400,
            f"The ENI {eni.id} is {eni.status} and not attached to {inst.id}.",
        )
    _instance_can_plug(inst)
    st.event("calls", eni.id, None, "DetachNetworkInterface", now, instance=inst.id, reissue=False)
    _lag(st, eni, now)
    st.set_status("enis", eni, "Detaching", now, instance=inst.id)
    fate = st.draw("detach", eni.id)
    # a hung guest never acknowledges the unplug, a crashed one often not (nor, now and then,
    # a healthy-looking one): the ENI waits in Detaching until the instance is stopped
    crash = _crash_stalls(st, inst, eni, fate.crash_u)
    stuck = inst.hung or crash or fate.stuck
    due = None if stuck else now + fate.duration_s
    step: dict[str, Any] = {"status": "Available", "due": due, "effect": "detached"}
    if stuck:
        step["stuck"] = "hung" if inst.hung else "crashed" if crash else "drawn"
    st.schedule("enis", eni, [step])
    return {}


def _crash_stalls(st: State, inst: Instance, eni: Eni, drawn: float | None) -> bool:
    """Does this detach from a crashed guest stall? As the crash said, else drawn: with the
    detach's own draw when the profile gives one (the same n-th detach, the same fate: the
    lab's two guest paths meet identical stalls), else from the event sequence."""
    if not inst.crashed:
        return False
    if inst.crash_stalls_detach is not None:
        return inst.crash_stalls_detach
    share = st.behaviour.crash_stall_share
    u = drawn if drawn is not None else transition_rng(st.world.seed, "crash-stall", eni.id, st.seq).random()
    return share > 0 and u < share


def _reserved(
    net: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Alibaba keeps the first and the last three addresses of every vSwitch CIDR."""
    return {net.network_address, *(net.broadcast_address - i for i in range(3))}


def _ips_in_use(st: State, vpc: str) -> set[str]:
    return {
        ip
        for e in st.world.enis.values()
        if st.world.vswitches[e.vswitch].vpc == vpc
        for ip in (e.primary_ip, *e.secondary_ips)
    }


def _pick_ips(st: State, eni: Eni, p: dict[str, str]) -> list[str]:
    wanted = get_list(p, "PrivateIpAddress", max_items=50)
    count = get_int(p, "SecondaryPrivateIpAddressCount", lo=1, hi=50)
    if wanted and count:
        raise invalid("SecondaryPrivateIpAddressCount", "cannot be combined with PrivateIpAddress.N")
    if not wanted and not count:
        raise missing("PrivateIpAddress.N")
    vsw = st.world.vswitches[eni.vswitch]
    net = ipaddress.ip_network(vsw.cidr)
    reserved = _reserved(net)
    in_use = _ips_in_use(st, vsw.vpc)
    if count:
        free = []
        for addr in net.hosts() if net.num_addresses <= 65536 else []:
            if addr not in reserved and str(addr) not in in_use:
                free.append(str(addr))
                if len(free) == count:
                    return free
        raise ApiError("InvalidVSwitchId.IpNotEnough", 403, f"The vSwitch {vsw.id} has not enough free IPs.")
    if len(set(wanted)) != len(wanted):
        raise ApiError("InvalidIp.IpRepeated", 403, "The same private IP is given twice.")
    for ip in wanted:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            raise invalid("PrivateIpAddress", f"contains {ip!r}, which is not an IP address") from None
        if addr not in net or addr in reserved:
            raise ApiError(
                "InvalidVSwitchId.IpInvalid", 403, f"The IP {ip} is not usable in {vsw.id} ({vsw.cidr})."
            )
        if ip in in_use:
            raise ApiError("InvalidIp.IpAssigned", 403, f"The IP {ip} is already assigned.")
    return wanted


@op("AssignPrivateIpAddresses", mutates=True, client_token=True)
def assign_private_ip_addresses(st: State, p: dict[str, str], now: float) -> dict[str, Any]:
    eni = find_eni(st, req_str(p, "NetworkInterfaceId"))
    _check_ip_change_allowed(st, eni)
    ips = _pick_ips(st, eni, p)
    if eni.status == "InUse" and eni.instance is not None:
        limit = st.world.instances[eni.instance].max_ips_per_eni
    else:
        limit = st.world.limits["available_ips"]
    if 1 + len(eni.secondary_ips) + len(ips) > limit:
        raise ApiError(
            "InvalidOperation.Ipv4CountExceeded",
            403,
            f"The ENI {eni.id} would hold more than {limit} private IPs while {eni.status}.",
        )
    sg_limit = st.world.limits["security_group_ips"]
    for sg in eni.security_groups:
        used = sum(1 + len(e.secondary_ips) for e in st.world.enis.values() if sg in e.security_groups)
        if used + len(ips) > sg_limit:
            raise ApiError(
                "SecurityGroupInstanceLimitExceed",
                403,
                f"The security group {sg} would hold more than {sg_limit} private IPs.",
            )
    eni.secondary_ips.extend(ips)
    st.event("enis", eni.id, None, "IpsAssigned", now, ips=ips)
    return {
        "AssignedPrivateIpAddressesSet": {
            "NetworkInterfaceId": eni.id,
            "PrivateIpSet": {"PrivateIpAddress": ips},
        }
    }


def _check_ip_change_allowed(st: State, eni: Eni) -> None:
    if eni.status not in ("Available", "InUse"):
        raise ApiError(
            "InvalidOperation.InvalidEniState",
            400,
            f"The ENI {eni.id} is {eni.status}; it must be Available or InUse.",
        )
    if eni.type == "Primary" and eni.instance is not None:
        inst = st.world.instances[eni.instance]
        if inst.status not in ("Running", "Stopped"):
            raise ApiError(
                "InvalidOperation.InvalidEcsState", 400, f"The instance {inst.id} is {inst.status}."
            )


@op("UnassignPrivateIpAddresses", mutates=True)
def unassign_private_ip_addresses(st: State, p: dict[str, str], now: float) -> dict[str, Any]:
    eni = find_eni(st, req_str(p, "NetworkInterfaceId"))
    ips = get_list(p, "PrivateIpAddress", max_items=50)
    if not ips:
        raise missing("PrivateIpAddress.N")
    _check_ip_change_allowed(st, eni)
    eips = bound_eips(st)
    for ip in ips:
        if ip not in eni.secondary_ips:
            raise ApiError("InvalidIp.IpUnassigned", 403, f"The IP {ip} is not a secondary IP of {eni.id}.")
        if (eni.id, ip) in eips:
            raise ApiError(
                "InvalidOperation.IpBoundToEip",
                403,
                f"The IP {ip} is mapped by EIP {eips[(eni.id, ip)].id}; unassociate it first.",
            )
    eni.secondary_ips = [ip for ip in eni.secondary_ips if ip not in ips]
    st.event("enis", eni.id, None, "IpsUnassigned", now, ips=ips)
    return {}
