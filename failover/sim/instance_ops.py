"""ECS instance operations: describe, status, stop/start/reboot, instance types, vSwitches."""

from __future__ import annotations

from typing import Any

from failover.sim.protocol import (
    ECS_VERSION,
    VPC_VERSION,
    ApiError,
    get_bool,
    get_json_list,
    get_list,
    get_str,
    page,
    req_str,
)
from failover.sim.registry import bound_eips, find_instance, iso, op, tag_list
from failover.sim.state import State
from failover.sim.world import Instance

_CREATED = 1_700_000_000.0


def _render_instance(st: State, inst: Instance) -> dict[str, Any]:
    vsw = st.world.vswitches[inst.vswitch]
    eips = bound_eips(st)
    nics = []
    for eni in st.world.enis.values():
        if eni.instance == inst.id and eni.status in ("InUse", "Detaching"):
            nics.append(
                {
                    "NetworkInterfaceId": eni.id,
                    "Type": eni.type,
                    "MacAddress": eni.mac,
                    "PrimaryIpAddress": eni.primary_ip,
                    "PrivateIpSets": {
                        "PrivateIpSet": [
                            {"PrivateIpAddress": ip, "Primary": ip == eni.primary_ip}
                            for ip in [eni.primary_ip, *eni.secondary_ips]
                        ]
                    },
                }
            )
    eip = eips.get((inst.primary_eni, inst.primary_ip))
    return {
        "InstanceId": inst.id,
        "InstanceName": inst.name or inst.id,
        "HostName": inst.name or inst.id,
        "Status": inst.status,
        "InstanceType": inst.type,
        "InstanceTypeFamily": inst.type.rsplit(".", 1)[0],
        "ZoneId": vsw.zone,
        "RegionId": st.world.region,
        "OSType": inst.os_type,
        "InstanceNetworkType": "vpc",
        "Cpu": 2,
        "Memory": 8192,
        "StoppedMode": "",
        "CreationTime": iso(_CREATED),
        "StartTime": iso(_CREATED),
        "VpcAttributes": {
            "VpcId": vsw.vpc,
            "VSwitchId": vsw.id,
            "NatIpAddress": "",
            "PrivateIpAddress": {"IpAddress": [inst.primary_ip]},
        },
        "NetworkInterfaces": {"NetworkInterface": nics},
        "EipAddress": {"AllocationId": eip.id, "IpAddress": eip.ip} if eip else {},
        "PublicIpAddress": {"IpAddress": []},
        "InnerIpAddress": {"IpAddress": []},
        "SecurityGroupIds": {"SecurityGroupId": list(inst.security_groups)},
        "OperationLocks": {"LockReason": []},
        "Tags": tag_list(inst.tags),
    }


@op("DescribeInstances")
def describe_instances(st: State, p: dict[str, str], now: float) -> dict[str, Any]:
    ids = get_json_list(p, "InstanceIds")
    ips = get_json_list(p, "PrivateIpAddresses")
    want = {
        k: get_str(p, k) for k in ("VpcId", "VSwitchId", "ZoneId", "Status", "InstanceType", "InstanceName")
    }
    pool = (
        [st.world.instances[i] for i in ids if i in st.world.instances]
        if ids is not None
        else list(st.world.instances.values())
    )
    found = []
    for inst in pool:
        vsw = st.world.vswitches[inst.vswitch]
        have = {
            "VpcId": vsw.vpc,
            "VSwitchId": vsw.id,
            "ZoneId": vsw.zone,
            "Status": inst.status,
            "InstanceType": inst.type,
            "InstanceName": inst.name or inst.id,
        }
        if any(v is not None and v != have[k] for k, v in want.items()):
            continue
        if ips is not None and inst.primary_ip not in ips:
            continue
        found.append(inst)
    chunk, fields = page(found, p, max_results=100)
    return {**fields, "Instances": {"Instance": [_render_instance(st, i) for i in chunk]}}


@op("DescribeInstanceStatus")
def describe_instance_status(st: State, p: dict[str, str], now: float) -> dict[str, Any]:
    ids = get_list(p, "InstanceId")
    zone = get_str(p, "ZoneId")
    pool = (
        [st.world.instances[i] for i in ids if i in st.world.instances]
        if ids
        else list(st.world.instances.values())
    )
    found = [i for i in pool if zone is None or st.world.vswitches[i.vswitch].zone == zone]
    chunk, fields = page(found, p, max_results=50, token_mode=False)
    return {
        **fields,
        "InstanceStatuses": {"InstanceStatus": [{"InstanceId": i.id, "Status": i.status} for i in chunk]},
    }


def _wrong_status(inst: Instance, needed: str) -> ApiError:
    return ApiError(
        "IncorrectInstanceStatus",
        403,
        f"The current status of the instance {inst.id} ({inst.status}) does not support this "
        f"operation; it must be {needed}.",
    )


def stop(st: State, inst: Instance, force: bool, now: float) -> None:
    """Stop (also from the control API); a hung guest ignores a graceful stop."""
    if inst.status == "Stopping" and force:
        st.schedule(
            "instances",
            inst,
            [{"status": "Stopped", "due": now + st.timing("stop", inst.id), "effect": "stopped"}],
        )
        return
    if inst.status != "Running" or inst.plan:
        raise _wrong_status(inst, "Running")
    st.set_status("instances", inst, "Stopping", now, force=force)
    due = None if inst.hung and not force else now + st.timing("stop", inst.id)
    st.schedule("instances", inst, [{"status": "Stopped", "due": due, "effect": "stopped"}])


def start(st: State, inst: Instance, now: float) -> None:
    if inst.status != "Stopped" or inst.plan:
        raise _wrong_status(inst, "Stopped")
    st.set_status("instances", inst, "Starting", now)
    st.schedule(
        "instances",
        inst,
        [{"status": "Running", "due": now + st.timing("start", inst.id), "effect": "booted"}],
    )


@op("StopInstance", mutates=True, regional=False)
def stop_instance(st: State, p: dict[str, str], now: float) -> dict[str, Any]:
    inst = find_instance(st, req_str(p, "InstanceId"))
    stop(st, inst, get_bool(p, "ForceStop"), now)
    return {}


@op("StartInstance", mutates=True, regional=False)
def start_instance(st: State, p: dict[str, str], now: float) -> dict[str, Any]:
    start(st, find_instance(st, req_str(p, "InstanceId")), now)
    return {}


@op("RebootInstance", mutates=True, regional=False)
def reboot_instance(st: State, p: dict[str, str], now: float) -> dict[str, Any]:
    inst = find_instance(st, req_str(p, "InstanceId"))
    force = get_bool(p, "ForceStop")
    if inst.status != "Running" or inst.plan:
        raise _wrong_status(inst, "Running")
    st.set_status("instances", inst, "Stopping", now, reboot=True, force=force)
    due = None if inst.hung and not force else now + st.timing("stop", inst.id)
    st.schedule(
        "instances",
        inst,
        [
            {"status": "Starting", "due": due, "effect": "stopped"},
            {"status": "Running", "due": None, "after": st.timing("start", inst.id), "effect": "booted"},
        ],
    )
    return {}


@op("DescribeInstanceTypes", regional=False)
def describe_instance_types(st: State, p: dict[str, str], now: float) -> dict[str, Any]:
    wanted = set(get_list(p, "InstanceTypes", max_items=10))
    types: dict[str, Instance] = {}
    for inst in st.world.instances.values():
        types.setdefault(inst.type, inst)
    rows = [
        {
            "InstanceTypeId": t,
            "InstanceTypeFamily": t.rsplit(".", 1)[0],
            "EniQuantity": i.max_enis,
            "EniTotalQuantity": i.max_enis,
            "EniPrivateIpAddressQuantity": i.max_ips_per_eni,
            "EniIpv6AddressQuantity": 0,
            "CpuCoreCount": 2,
            "MemorySize": 8.0,
        }
        for t, i in sorted(types.items())
        if not wanted or t in wanted
    ]
    chunk, fields = page(rows, p, max_results=1600, default_size=1600)
    fields.pop("TotalCount", None)
    return {"NextToken": fields.get("NextToken", ""), "InstanceTypes": {"InstanceType": chunk}}


@op("DescribeVSwitches", versions=(ECS_VERSION, VPC_VERSION))
def describe_vswitches(st: State, p: dict[str, str], now: float) -> dict[str, Any]:
    want = {k: get_str(p, k) for k in ("VSwitchId", "VpcId", "ZoneId")}
    in_use: dict[str, int] = {}
    for eni in st.world.enis.values():
        in_use[eni.vswitch] = in_use.get(eni.vswitch, 0) + 1 + len(eni.secondary_ips)
    rows = []
    for vsw in st.world.vswitches.values():
        have = {"VSwitchId": vsw.id, "VpcId": vsw.vpc, "ZoneId": vsw.zone}
        if any(v is not None and v != have[k] for k, v in want.items()):
            continue
        size = 2 ** (32 - int(vsw.cidr.rsplit("/", 1)[1])) if ":" not in vsw.cidr else 2**32
        rows.append(
            {
                "VSwitchId": vsw.id,
                "VpcId": vsw.vpc,
                "ZoneId": vsw.zone,
                "CidrBlock": vsw.cidr,
                "Status": "Available",
                "VSwitchName": vsw.id,
                "Description": "",
                "IsDefault": False,
                "CreationTime": iso(_CREATED),
                "ResourceGroupId": "",
                "AvailableIpAddressCount": max(0, size - 4 - in_use.get(vsw.id, 0)),
            }
        )
    chunk, fields = page(rows, p, max_results=50, token_mode=False)
    return {**fields, "VSwitches": {"VSwitch": chunk}}


TAG_KEY_MAX, TAG_VALUE_MAX, TAGS_PER_RESOURCE = 128, 128, 20


@op("TagResources", mutates=True)
def tag_resources(st: State, p: dict[str, str], now: float) -> dict[str, Any]:
    """Instances only (the controller tags nothing else); an existing key is overwritten."""
    kind = req_str(p, "ResourceType")
    if kind != "instance":
        raise ApiError("InvalidResourceType.NotSupported", 400,
                       f"The emulator tags instances only, not {kind}.")
    ids = get_list(p, "ResourceId", max_items=50)
    if not ids:
        raise ApiError("MissingParameter", 400, "ResourceId.N is required.")
    tags: dict[str, str] = {}
    for n in range(1, 21):
        key = p.get(f"Tag.{n}.Key")
        if key is None:
            break
        value = p.get(f"Tag.{n}.Value", "")
        if not key or len(key) > TAG_KEY_MAX or key.startswith(("aliyun", "acs:")):
            raise ApiError("InvalidTagKey.Malformed", 400, f"The tag key {key!r} is not valid.")
        if len(value) > TAG_VALUE_MAX:
            raise ApiError("InvalidTagValue.Malformed", 400, "The tag value is too long.")
        tags[key] = value
    if not tags:
        raise ApiError("MissingParameter", 400, "Tag.N.Key is required.")
    targets = [find_instance(st, i, code="InvalidResourceId.NotFound") for i in ids]
    for inst in targets:
        if len({**inst.tags, **tags}) > TAGS_PER_RESOURCE:
            raise ApiError("InvalidTagCount", 400, f"{inst.id} would have more than "
                                                   f"{TAGS_PER_RESOURCE} tags.")
    for inst in targets:
        inst.tags.update(tags)
        st.event("instances", inst.id, None, "Tagged", now, tags=dict(tags))
    return {}
