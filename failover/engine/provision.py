"""Provisioning: make the ENI's private IPs and EIPs match the config, moving nothing.

`plan` is pure: the config and what the cloud holds in, the writes that close
the gap out, plus what provisioning will not touch (extra IPs, EIPs associated
elsewhere, modes that need the ENI detached), each with the exact manual step.
`apply` executes a plan through the `Provisioning` port: every write carries
its own ClientToken, so a retried call never assigns or associates twice, and
a plan computed from an already matching cloud is empty (a second run changes
nothing). `plan.findings` are the same gaps as `validate --live` lines.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from failover.config import GroupConfig
from failover.engine import staging
from failover.engine.readiness import Finding
from failover.model import CallTrace, CloudError, EipInfo, EniState, InstanceInfo
from failover.ports import CloudPort, GuestStager, Provisioning

NAT = "NAT"


@dataclass(frozen=True)
class Assign:
    path: str  # the config key that asks for it: groups[0].service_ips[1]
    eni_id: str
    ip: str

    def describe(self) -> str:
        return f"assign {self.ip} to {self.eni_id} (AssignPrivateIpAddresses)"


@dataclass(frozen=True)
class Associate:
    path: str
    allocation_id: str
    ip: str
    eni_id: str
    private_ip: str
    mode: str = NAT

    def describe(self) -> str:
        return (f"associate EIP {self.ip} ({self.allocation_id}) with {self.eni_id} on "
                f"{self.private_ip}, {self.mode} mode (AssociateEipAddress)")


@dataclass(frozen=True)
class Manual:
    """What provisioning leaves alone, and the step that does it by hand."""

    path: str
    what: str
    step: str
    blocking: bool  # True: the cloud still differs from the config until someone acts

    def describe(self) -> str:
        return f"{self.what}. By hand: {self.step}"


@dataclass(frozen=True)
class Plan:
    group: str
    eni_id: str
    assign: tuple[Assign, ...] = ()
    associate: tuple[Associate, ...] = ()
    manual: tuple[Manual, ...] = ()
    stage_plan: staging.StagePlan | None = None  # guest.prestage: the members to (re-)stage

    @property
    def stages(self) -> tuple[staging.StageAction, ...]:
        return self.stage_plan.actions if self.stage_plan is not None else ()

    @property
    def changes(self) -> bool:
        return bool(self.assign or self.associate or self.stages)

    @property
    def blocked(self) -> bool:
        return any(m.blocking for m in self.manual)

    def findings(self) -> list[Finding]:
        fix = f"run `failover provision {self.group}`"
        out = [Finding(a.path, f"{a.ip} is not assigned to {a.eni_id}; {fix}") for a in self.assign]
        out += [Finding(a.path, f"EIP {a.ip} ({a.allocation_id}) is not associated with {a.eni_id}; {fix}")
                for a in self.associate]
        out += [Finding(m.path, f"{m.what}; by hand: {m.step}", error=m.blocking) for m in self.manual]
        return out + (self.stage_plan.findings() if self.stage_plan is not None else [])


@dataclass(frozen=True)
class ProvisionFacts:
    eni: EniState | None  # None: not found
    cidr: str | None  # the ENI vSwitch's CIDR
    eips: Mapping[str, EipInfo]  # the configured EIPs the region has, by address
    on_eni: tuple[EipInfo, ...]  # every EIP associated with the ENI
    # the members as DescribeInstances shows them, tags included (read for guest.prestage only)
    instances: Mapping[str, InstanceInfo] = field(default_factory=dict)
    stager: GuestStager | None = None  # renders the pre-staged configuration (guest.prestage)


@dataclass(frozen=True)
class Outcome:
    action: str
    ok: bool
    detail: str  # RequestIds, or the error


# ----------------------------------------------------------------- planning


def plan(index: int, group: GroupConfig, region: str, facts: ProvisionFacts, *,
         restage: bool = False) -> Plan:
    prefix = f"groups[{index}]"
    eni = facts.eni
    if eni is None:
        return Plan(group.name, group.network_interface, manual=(Manual(
            f"{prefix}.network_interface", f"ENI {group.network_interface} not found in {region}",
            "create it (CreateNetworkInterface) or fix network_interface", True),))
    assign, manual = _ips(prefix, group, region, eni, facts.cidr)
    associate, eip_manual = _eips(prefix, group, region, eni, facts, [a.ip for a in assign])
    # The stage carries the IPs the ENI will have once the assignments above are done.
    after = replace(eni, private_ips=(*eni.private_ips, *(a.ip for a in assign)))
    stage = staging.plan(index, group, after, facts.cidr, facts.instances, facts.stager,
                         restage=restage)
    return Plan(group.name, eni.eni_id, tuple(assign), tuple(associate), tuple(manual + eip_manual),
                stage)


def _ips(prefix: str, group: GroupConfig, region: str, eni: EniState,
         cidr: str | None) -> tuple[list[Assign], list[Manual]]:
    assign: list[Assign] = []
    manual: list[Manual] = []
    net = ipaddress.IPv4Network(cidr) if cidr else None
    for j, ip in enumerate(group.service_ips):
        if ip in eni.private_ips:
            continue
        if net is not None and ipaddress.IPv4Address(ip) not in net:
            manual.append(Manual(
                f"{prefix}.service_ips[{j}]",
                f"{ip} is outside {eni.eni_id}'s vSwitch {eni.vswitch_id} ({cidr})",
                f"use an address in {cidr}", True))
            continue
        assign.append(Assign(f"{prefix}.service_ips[{j}]", eni.eni_id, ip))
    for ip in eni.private_ips:
        if ip != eni.primary_ip and ip not in group.service_ips:
            manual.append(Manual(
                f"{prefix}.service_ips",
                f"{ip} is on {eni.eni_id} but not in service_ips; provision leaves it",
                f"add it to service_ips, or remove it: aliyun ecs UnassignPrivateIpAddresses --RegionId "
                f"{region} --NetworkInterfaceId {eni.eni_id} --PrivateIpAddress.1 {ip}", False))
    return assign, manual


def _eips(prefix: str, group: GroupConfig, region: str, eni: EniState, facts: ProvisionFacts,
          assigning: Sequence[str]) -> tuple[list[Associate], list[Manual]]:
    associate: list[Associate] = []
    manual: list[Manual] = []
    bound = [e for e in facts.on_eni if e.status != "Available"]
    other_modes = sorted({e.mode for e in bound if e.mode and e.mode != NAT})
    taken = {e.private_ip for e in bound if e.private_ip}
    after = [*eni.private_ips, *assigning]
    # NAT maps one EIP per private IP: the primary first, then the service IPs in config order.
    order = list(dict.fromkeys([eni.primary_ip, *(ip for ip in group.service_ips if ip in after), *after]))
    for k, addr in enumerate(group.eips):
        path = f"{prefix}.eips[{k}]"
        eip = facts.eips.get(addr)
        if eip is None:
            manual.append(Manual(path, f"EIP {addr} not found in {region}",
                                 "allocate it in this region, or fix eips", True))
        elif eip.instance_id == eni.eni_id:
            continue
        elif eip.instance_id:
            manual.append(Manual(
                path, f"EIP {addr} ({eip.allocation_id}) is associated with {eip.instance_id}, not "
                f"{eni.eni_id}; provision does not move it",
                f"aliyun vpc UnassociateEipAddress --RegionId {region} --AllocationId {eip.allocation_id} "
                f"--InstanceId {eip.instance_id} --InstanceType {eip.instance_type or 'EcsInstance'}, "
                f"then run `failover provision {group.name}` again", True))
        elif eip.status != "Available":
            manual.append(Manual(path, f"EIP {addr} ({eip.allocation_id}) is {eip.status}",
                                 f"wait until it is Available, then run `failover provision {group.name}`",
                                 True))
        elif other_modes:
            mode = other_modes[0]
            manual.append(Manual(
                path, f"{eni.eni_id}'s EIPs are in {mode} mode, which takes another EIP only while the "
                "ENI is detached",
                f"in a maintenance window detach {eni.eni_id}, run aliyun vpc AssociateEipAddress --RegionId "
                f"{region} --AllocationId {eip.allocation_id} --InstanceId {eni.eni_id} --InstanceType "
                f"NetworkInterface --Mode {mode}, and attach it back", True))
        else:
            free = next((ip for ip in order if ip not in taken), None)
            if free is None:
                manual.append(Manual(
                    path, f"every private IP of {eni.eni_id} already has an EIP (NAT maps one per IP)",
                    "add a service IP for it, or unassociate an EIP the config does not list", True))
                continue
            taken.add(free)
            associate.append(Associate(path, eip.allocation_id, addr, eni.eni_id, free))
    for e in facts.on_eni:
        if e.ip not in group.eips:
            detached = "" if (e.mode or NAT) == NAT else f" ({e.mode} mode: with the ENI detached)"
            manual.append(Manual(
                f"{prefix}.eips", f"EIP {e.ip} ({e.allocation_id}) is on {eni.eni_id} but not in eips; "
                "provision leaves it",
                f"add it to eips, or remove it{detached}: aliyun vpc UnassociateEipAddress --RegionId "
                f"{region} --AllocationId {e.allocation_id} --InstanceId {eni.eni_id} "
                "--InstanceType NetworkInterface", False))
    return associate, manual


# ---------------------------------------------------------------- reads/writes


def read_facts(cloud: CloudPort, prov: Provisioning, group: GroupConfig,
               eni: EniState | None, stager: GuestStager | None = None) -> ProvisionFacts:
    """The EIP side of one group (the ENI is read by the caller, once); with a `stager`, also
    the members (their tags) when the group is pre-staged."""
    if eni is None:
        return ProvisionFacts(None, None, {}, ())
    cidr = cloud.describe_vswitch(eni.vswitch_id).cidr
    found = prov.describe_eips(ips=group.eips) if group.eips else []
    on_eni = cloud.eips_of_eni(eni.eni_id)
    wanted = stager is not None and group.guest.prestage
    instances = cloud.describe_instances(list(group.members)) if wanted else {}
    return ProvisionFacts(eni, cidr or None, {e.ip: e for e in found}, tuple(on_eni), instances, stager)


def new_token() -> str:
    return f"failover-provision-{uuid.uuid4().hex}"  # 51 characters; the API takes 64


def apply(p: Plan, prov: Provisioning, *, timeout_s: float = 30.0,
          token: Callable[[], str] = new_token) -> list[Outcome]:
    """Assigns the missing IPs in one call, then associates each EIP; never stops early."""
    out: list[Outcome] = []
    failed_ips: set[str] = set()
    if p.assign:
        ips = [a.ip for a in p.assign]
        action = f"assign {', '.join(ips)} to {p.eni_id} (AssignPrivateIpAddresses)"
        trace = CallTrace()
        try:
            prov.assign_private_ips(p.eni_id, ips, token(), timeout_s=timeout_s, trace=trace)
            out.append(Outcome(action, True, _ids(trace)))
        except CloudError as e:
            failed_ips.update(ips)
            out.append(Outcome(action, False, str(e)))
    for a in p.associate:
        if a.private_ip in failed_ips:
            out.append(Outcome(a.describe(), False, f"skipped: {a.private_ip} was not assigned"))
            continue
        trace = CallTrace()
        try:
            prov.associate_eip(a.allocation_id, a.eni_id, private_ip=a.private_ip, mode=a.mode,
                               client_token=token(), timeout_s=timeout_s, trace=trace)
            out.append(Outcome(a.describe(), True, _ids(trace)))
        except CloudError as e:
            out.append(Outcome(a.describe(), False, str(e)))
    return out


def _ids(trace: CallTrace) -> str:
    ids = trace.request_ids
    return f"requests: {', '.join(ids)}" if ids else ""
