"""`EcsCloud`: the `CloudPort` on Alibaba Cloud, plus what provisioning needs.

Composes the SDK gateway, the process-wide API budget, the retrying caller,
and the read/write halves of the port. `app.py` builds one from `CloudConfig`;
tests hand in a private budget and, for unit tests, a fake gateway; `polls` replaces the
poll plans of the waits (`waiting.PollPlans`, e.g. scaled for an emulator running faster).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from typing import Any

from failover import metrics
from failover.cloud import convert, errors
from failover.cloud.budget import ApiBudget, shared_budget
from failover.cloud.calls import Caller, Gateway
from failover.cloud.looks import ask
from failover.cloud.operations import CloudMoves
from failover.cloud.sdk import ApiError, SdkGateway
from failover.cloud.transitions import FAILOVER, Clocked, Target, not_found, timeout
from failover.cloud.waiting import Deadline, PollPlans
from failover.config import CloudConfig
from failover.model import CallTrace, EipInfo, ErrorKind, InstanceTypeLimits, Priority
from failover.ports import Clock, SystemClock

INSTANCE_TYPES_MAX = 10


# The calls of a failover and of its checks: their call and throttle series exist from the
# start (at 0), so the throttling alert and runbook see "none yet" instead of nothing.
FAILOVER_ACTIONS = (
    "DescribeNetworkInterfaces", "DetachNetworkInterface", "AttachNetworkInterface",
    "DescribeInstanceStatus", "StopInstance", "RunCommand", "DescribeInvocationResults",
    "DescribeInvocations", "StartInstance", "DescribeCloudAssistantStatus",
)


class EcsCloud(CloudMoves):
    """ECS/VPC through the official SDK. Implements `failover.ports.CloudPort`."""

    def __init__(
        self,
        cfg: CloudConfig,
        *,
        gateway: Gateway | None = None,
        budget: ApiBudget | None = None,
        clock: Clock | None = None,
        read_deadline_s: float | None = None,
        environ: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
        polls: PollPlans | None = None,
    ) -> None:
        clock = clock or SystemClock()
        self.region = cfg.region
        self.endpoint = cfg.endpoint
        self.budget = budget or shared_budget(
            cfg.api_rate_per_s, cfg.api_burst, cfg.failover_reserve, clock=clock
        )
        gw = gateway if gateway is not None else SdkGateway(cfg, environ=environ)
        metrics.expose_api_actions(FAILOVER_ACTIONS)
        # A read gets the time of one slow attempt plus a quick retry or two.
        deadline = read_deadline_s or cfg.connect_timeout_s + cfg.read_timeout_s
        # A fake clock (tests) is coherent only while one thread moves it: calls run on the
        # scheduler's own thread then.
        super().__init__(Caller(gw, self.budget, clock, rng), self.budget, clock, deadline,
                         polls or PollPlans.dense(cfg.poll_dense_s, cfg.poll_max),
                         inline=not isinstance(clock, SystemClock))

    def __repr__(self) -> str:
        return f"EcsCloud(region={self.region!r}, endpoint={self.endpoint or 'default'!r})"

    # ---------------------------------------------------- for provisioning

    def describe_instance_types(self, instance_types: Sequence[str], *,
                                priority: Priority = Priority.ROUTINE,
                                ) -> dict[str, InstanceTypeLimits]:
        """Per type: how many ENIs (primary included) and IPv4 addresses per ENI it allows."""
        out: dict[str, InstanceTypeLimits] = {}
        for body in self._pages("DescribeInstanceTypes", instance_types, INSTANCE_TYPES_MAX,
                                lambda part: {"InstanceTypes": part}, priority):
            for item in convert.items(body, "InstanceTypes", "InstanceType"):
                limits = convert.instance_type_limits(item)
                out[limits.instance_type] = limits
        return out

    def assign_private_ips(self, eni_id: str, ips: Sequence[str], client_token: str, *,
                           timeout_s: float = 30.0,
                           trace: CallTrace | None = None) -> tuple[str, ...]:
        """Add secondary private IPs to an ENI; the token makes a retry safe."""
        reply = self._caller.retrying(
            "AssignPrivateIpAddresses",
            {"NetworkInterfaceId": eni_id, "PrivateIpAddress": list(ips),
             "ClientToken": client_token},
            priority=Priority.ROUTINE, deadline=Deadline.after(self._clock, timeout_s), trace=trace,
            mutation=True,
        )
        assigned = (reply.body.get("AssignedPrivateIpAddressesSet") or {}).get("PrivateIpSet") or {}
        return tuple(str(ip) for ip in assigned.get("PrivateIpAddress") or ())

    def tag_instance(self, instance_id: str, key: str, value: str, *, timeout_s: float = 30.0,
                     trace: CallTrace | None = None) -> None:
        """Sets one tag on an instance (TagResources overwrites: a retry is harmless)."""
        self._caller.retrying(
            "TagResources",
            {"ResourceType": "instance", "ResourceId": [instance_id],
             "Tag": [{"Key": key, "Value": value}]},
            priority=Priority.ROUTINE, deadline=Deadline.after(self._clock, timeout_s), trace=trace,
            mutation=True,
        )

    def associate_eip(self, allocation_id: str, eni_id: str, *, private_ip: str | None = None,
                      mode: str = "NAT", client_token: str, timeout_s: float = 30.0,
                      trace: CallTrace | None = None) -> EipInfo:
        """Associate an EIP with an ENI and wait until it is InUse there; already there = done."""
        action = "AssociateEipAddress"
        wait = Clocked(timeout_s, self._clock.monotonic(), self._polls.eip, self._polls)
        deadline = Deadline(self._clock, wait.deadline, timeout_s)
        params = {"AllocationId": allocation_id, "InstanceId": eni_id,
                  "InstanceType": "NetworkInterface", "Mode": mode, "ClientToken": client_token}
        if private_ip:
            params["PrivateIpAddress"] = private_ip
        issued = False
        while True:
            found = self._eips({"AllocationId": allocation_id}, FAILOVER, deadline, trace)
            if not found:
                raise not_found(action, f"EIP {allocation_id}")
            eip = found[0]
            if eip.instance_id == eni_id and eip.status == "InUse":
                return eip
            if eip.instance_id not in (None, eni_id):
                raise ApiError(
                    f"EIP {allocation_id} ({eip.ip}) is associated with {eip.instance_id}, not "
                    f"{eni_id}; unassociate it first",
                    kind=ErrorKind.FATAL, code=errors.WRONG_HOLDER, action=action,
                )
            if not issued and eip.status == "Available":
                # Retrying with the same ClientToken is safe: at most one association.
                self._caller.retrying(action, params, priority=FAILOVER, deadline=deadline,
                                      trace=trace, mutation=True)
                issued = True
            now = self._clock.monotonic()
            if now >= wait.deadline:
                raise timeout(action, f"EIP {allocation_id} not InUse on {eni_id} "
                              f"(last status {eip.status})", timeout_s, None, None)
            # Provisioning, not a failover: this one wait sleeps on its caller's thread, on the
            # walk of its poll plan every move takes (the target is only a label here).
            wait, look = wait.look(now, Target.ENI)
            self._clock.sleep(look.at - now)

    # ---------------------------------------------------- for validate --live

    def resource_tags(self, kind: str, ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """The tags of ENIs, instances or EIPs (`kind` eni | instance | eip), by id; ids the
        cloud does not know are absent. EIPs may be named by allocation id or address."""
        wanted = list(dict.fromkeys(ids))
        if kind == "eip":
            alloc = [i for i in wanted if i.startswith("eip-")]
            found = self._eips_tagged(alloc, [i for i in wanted if i not in alloc])
            return {k: v for k, v in found.items() if k in wanted}
        action, outer, inner, key, size = {
            "eni": ("DescribeNetworkInterfaces", "NetworkInterfaceSets", "NetworkInterfaceSet",
                    "NetworkInterfaceId", 100),
            "instance": ("DescribeInstances", "Instances", "Instance", "InstanceId", 100),
        }[kind]
        def params(part: list[str]) -> dict[str, Any]:
            if kind == "eni":
                return ask(Target.ENI, part)
            return {"InstanceIds": json.dumps(part), "MaxResults": len(part)}

        out: dict[str, dict[str, str]] = {}
        for body in self._pages(action, wanted, size, params, Priority.ROUTINE):
            for item in convert.items(body, outer, inner):
                out[str(item.get(key))] = convert.tags(item)
        return out

    def _eips_tagged(self, allocation_ids: list[str], ips: list[str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for key, ids in (("AllocationId", allocation_ids), ("EipAddress", ips)):
            for item in self._eip_items({key: ",".join(ids)}, Priority.ROUTINE, self._deadline(),
                                        None) if ids else ():
                tags = convert.tags(item)
                out[str(item.get("AllocationId"))] = out[str(item.get("IpAddress"))] = tags
        return out
