"""The table of cloud operations and the lookups every operation shares.

An operation is `handler(state, params, now) -> response fields`, registered per
(API version, action). It runs with the state lock held and the clock already advanced.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from failover.sim.protocol import ECS_VERSION, VPC_VERSION, ApiError
from failover.sim.state import State
from failover.sim.world import Eip, Eni, Instance

Handler = Callable[[State, dict[str, str], float], dict[str, Any]]


@dataclass(frozen=True)
class Op:
    handler: Handler
    mutates: bool
    client_token: bool
    regional: bool  # RegionId required (StopInstance & co. have none)


OPS: dict[tuple[str, str], Op] = {}


def op(
    action: str,
    versions: tuple[str, ...] = (ECS_VERSION,),
    mutates: bool = False,
    client_token: bool = False,
    regional: bool = True,
) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for v in versions:
            OPS[(v, action)] = Op(fn, mutates, client_token, regional)
        return fn

    return register


def known_action(action: str) -> bool:
    return any(a == action for _, a in OPS)


def iso(t: float | None) -> str:
    return "" if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def find_eni(st: State, eni_id: str) -> Eni:
    eni = st.world.enis.get(eni_id)
    if eni is None:
        raise ApiError(
            "InvalidEniId.NotFound", 404, f"The specified network interface {eni_id} does not exist."
        )
    return eni


def find_instance(st: State, instance_id: str, code: str = "InvalidInstanceId.NotFound") -> Instance:
    inst = st.world.instances.get(instance_id)
    if inst is None:
        raise ApiError(code, 404, f"The specified instance {instance_id} does not exist.")
    return inst


def find_eip(st: State, allocation_id: str) -> Eip:
    eip = st.world.eips.get(allocation_id)
    if eip is None:
        raise ApiError(
            "InvalidAllocationId.NotFound", 404, f"The specified EIP {allocation_id} does not exist."
        )
    return eip


def bound_eips(st: State) -> dict[tuple[str, str], Eip]:
    """(ENI id, private IP) -> the EIP mapped to it, for EIPs that are associated."""
    return {
        (e.network_interface, e.private_ip or ""): e
        for e in st.world.eips.values()
        if e.network_interface is not None and e.status in ("InUse", "Unassociating")
    }


def public_ip(eip: Eip | None) -> dict[str, Any]:
    return {"PublicIpAddress": eip.ip, "AllocationId": eip.id} if eip else {}


def tag_list(tags: dict[str, str], key: str = "TagKey", value: str = "TagValue") -> dict[str, Any]:
    """`Tags` as the describes answer it: ECS says TagKey/TagValue, DescribeEipAddresses Key/Value."""
    return {"Tag": [{key: k, value: v} for k, v in sorted(tags.items())]}


def vpc_versions() -> tuple[str, ...]:
    return (VPC_VERSION,)
