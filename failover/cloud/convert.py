"""API answers (plain dicts with the API's key names) into the product's types.

Pure functions. Alibaba wraps every list twice (`{"Xs": {"X": [...]}}`) and
leaves absent keys out; these helpers absorb both so the adapter reads clean
`EniState`, `InstanceInfo`, `VSwitchInfo`, `EipInfo` and `CommandResult`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from failover.model import (
    CommandResult,
    EipInfo,
    EniState,
    EniStatus,
    InstanceInfo,
    InstanceTypeLimits,
    VSwitchInfo,
)

# Per-instance Cloud Assistant states after which nothing changes any more.
TERMINAL_INVOCATION = frozenset({
    "Success", "Failed", "Error", "Timeout", "Invalid", "Aborted", "Cancelled", "Terminated",
    "Stopped", "PartialFailed",
})


def items(d: Mapping[str, Any] | None, outer: str, inner: str) -> list[Any]:
    """The list inside `{outer: {inner: [...]}}`, [] when any level is absent."""
    if not d:
        return []
    wrapper = d.get(outer)
    if not isinstance(wrapper, Mapping):
        return []
    found = wrapper.get(inner)
    return list(found) if isinstance(found, list) else []


def _s(d: Mapping[str, Any], key: str) -> str:
    value = d.get(key)
    return "" if value is None else str(value)


def tags(d: Mapping[str, Any]) -> dict[str, str]:
    """`Tags.Tag[]` of a described resource: ECS answers TagKey/TagValue, VPC (EIPs) Key/Value."""
    out: dict[str, str] = {}
    for t in items(d, "Tags", "Tag"):
        key = t.get("TagKey", t.get("Key"))
        if key is not None:
            out[str(key)] = str(t.get("TagValue", t.get("Value")) or "")
    return out


def eni_state(d: Mapping[str, Any]) -> EniState:
    """One ENI from DescribeNetworkInterfaces (a set item) or ...Attribute (the whole body)."""
    primary = _s(d, "PrivateIpAddress")
    ips: list[str] = [primary] if primary else []
    for entry in items(d, "PrivateIpSets", "PrivateIpSet"):
        ip = str(entry.get("PrivateIpAddress") or "")
        if not ip:
            continue
        if entry.get("Primary") is True and not primary:
            primary = ip
            ips.insert(0, ip)
        elif ip not in ips:
            ips.append(ip)
    holder = d.get("InstanceId") or (d.get("Attachment") or {}).get("InstanceId") or None
    return EniState(
        eni_id=_s(d, "NetworkInterfaceId"),
        status=EniStatus.parse(_s(d, "Status")),
        instance_id=str(holder) if holder else None,
        mac=_s(d, "MacAddress"),
        primary_ip=primary,
        private_ips=tuple(ips),
        vswitch_id=_s(d, "VSwitchId"),
        vpc_id=_s(d, "VpcId"),
        zone_id=_s(d, "ZoneId"),
        eni_type=_s(d, "Type") or "Secondary",
    )


def instance_info(d: Mapping[str, Any]) -> InstanceInfo:
    """One instance from DescribeInstances."""
    vpc = d.get("VpcAttributes") or {}
    ips = items(vpc, "PrivateIpAddress", "IpAddress")
    primary = str(ips[0]) if ips else ""
    nics = items(d, "NetworkInterfaces", "NetworkInterface")
    if not primary:
        for nic in nics:
            if nic.get("Type") == "Primary" and nic.get("PrimaryIpAddress"):
                primary = str(nic["PrimaryIpAddress"])
    enis = tuple(str(n["NetworkInterfaceId"]) for n in nics if n.get("NetworkInterfaceId"))
    return InstanceInfo(
        instance_id=_s(d, "InstanceId"),
        status=_s(d, "Status"),
        primary_ip=primary,
        zone_id=_s(d, "ZoneId"),
        vpc_id=_s(vpc, "VpcId"),
        vswitch_id=_s(vpc, "VSwitchId"),
        instance_type=_s(d, "InstanceType"),
        eni_ids=enis,
        tags=tuple((str(t.get("TagKey") or ""), str(t.get("TagValue") or ""))
                   for t in items(d, "Tags", "Tag") if t.get("TagKey")),
    )


def statuses(body: Mapping[str, Any]) -> dict[str, str]:
    """DescribeInstanceStatus: instance id -> status."""
    return {
        str(s["InstanceId"]): str(s.get("Status") or "")
        for s in items(body, "InstanceStatuses", "InstanceStatus")
        if s.get("InstanceId")
    }


def vswitch_info(d: Mapping[str, Any]) -> VSwitchInfo:
    return VSwitchInfo(
        vswitch_id=_s(d, "VSwitchId"), vpc_id=_s(d, "VpcId"), zone_id=_s(d, "ZoneId"),
        cidr=_s(d, "CidrBlock"),
    )


def eip_info(d: Mapping[str, Any]) -> EipInfo:
    return EipInfo(
        allocation_id=_s(d, "AllocationId"),
        ip=_s(d, "IpAddress"),
        status=_s(d, "Status"),
        instance_id=_s(d, "InstanceId") or None,
        instance_type=_s(d, "InstanceType") or None,
        private_ip=_s(d, "PrivateIpAddress") or None,
        mode=_s(d, "Mode") or None,
    )


def assistant_online(body: Mapping[str, Any]) -> dict[str, bool]:
    """DescribeCloudAssistantStatus: the status is the *string* "true"/"false"."""
    out: dict[str, bool] = {}
    for s in items(body, "InstanceCloudAssistantStatusSet", "InstanceCloudAssistantStatus"):
        if s.get("InstanceId"):
            out[str(s["InstanceId"])] = str(s.get("CloudAssistantStatus")).lower() == "true"
    return out


def invocation_result(body: Mapping[str, Any], invoke_id: str, instance_id: str) -> CommandResult | None:
    """This run's row for this instance in a DescribeInvocationResults answer, or in a
    DescribeInvocations one (its InvokeInstances); None if not listed yet."""
    if "Invocations" in body:
        rows = [row for inv in items(body, "Invocations", "Invocation")
                if str(inv.get("InvokeId") or invoke_id) == invoke_id
                for row in items(inv, "InvokeInstances", "InvokeInstance")]
    else:
        rows = items(body.get("Invocation") or {}, "InvocationResults", "InvocationResult")
    for row in rows:
        if str(row.get("InstanceId") or instance_id) != instance_id:
            continue
        status = str(row.get("InvocationStatus") or row.get("InvokeRecordStatus") or "Pending")
        exit_code = row.get("ExitCode")
        output = str(row.get("Output") or "")
        if not output and row.get("ErrorCode"):
            output = f"{row['ErrorCode']}: {row.get('ErrorInfo') or ''}".strip()
        finished = status in TERMINAL_INVOCATION
        return CommandResult(
            invoke_id=invoke_id,
            status=status,
            exit_code=int(exit_code) if finished and exit_code is not None else None,
            output=output,
        )
    return None


def instance_type_limits(d: Mapping[str, Any]) -> InstanceTypeLimits:
    return InstanceTypeLimits(
        instance_type=_s(d, "InstanceTypeId"),
        max_enis=int(d.get("EniQuantity") or 0),
        ips_per_eni=int(d.get("EniPrivateIpAddressQuantity") or 0),
    )
