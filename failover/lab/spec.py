"""The lab's shape as pure data: names, addresses and roles derived from one per-run prefix.

Everything the lab creates is named `<prefix>-<role>` with `prefix` = `flab` + 4 hex digits,
so a link name stays within the kernel's 15 characters and `down` can recognise (and only
recognise) lab objects by `NAME_PATTERN`. The hooks, the topology builder and the bench all
rebuild the same `LabSpec` from the prefix alone.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

PREFIX_RE = re.compile(r"^flab[0-9a-f]{4}$")
NAME_PATTERN = re.compile(r"^flab[0-9a-f]{4}-[a-z0-9]{1,6}$")
STATE_DIR = "/run/failover-lab"

SUBNET = "192.168.1.0/24"
PREFIXLEN = 24
CONTROL_SUBNET_PREFIXLEN = 24
CONTROL_IP = "198.18.0.1"  # RFC 2544 benchmark range: never routed, only on the control bridge
ZK_PORT = 2181
SIM_PORT = 18765
METRICS_PORT = 9108
HTTP_PORT = 80


def new_prefix() -> str:
    return "flab" + secrets.token_hex(2)


def check_prefix(prefix: str) -> str:
    if not PREFIX_RE.match(prefix):
        raise ValueError(f"--prefix: expected 'flab' and 4 hex digits (like flab3a7c), got {prefix!r}")
    return prefix


@dataclass(frozen=True)
class Member:
    """An ECS instance of the lab: a namespace with `eth0` on the VPC bridge."""

    instance_id: str
    role: str  # short name: namespace suffix and bridge port suffix
    ip: str


@dataclass(frozen=True)
class Controller:
    controller_id: str
    role: str
    vpc_ip: str  # its leg on the VPC bridge, from which it probes the members
    control_ip: str  # its leg on the control bridge, to ZooKeeper and the emulator


@dataclass(frozen=True)
class Eni:
    eni_id: str = "eni-svc"
    mac: str = "00:16:3e:00:00:50"
    primary_ip: str = "192.168.1.50"
    service_ip: str = "192.168.1.51"
    inner_name: str = "eth1"  # its name inside whichever namespace holds it

    @property
    def ips(self) -> tuple[str, str]:
        return (self.primary_ip, self.service_ip)


@dataclass(frozen=True)
class LabSpec:
    prefix: str
    members: tuple[Member, ...] = (
        Member("i-primary", "i1", "192.168.1.10"),
        Member("i-standby", "i2", "192.168.1.11"),
    )
    controllers: tuple[Controller, ...] = (
        Controller("ctl-a", "mga", "192.168.1.2", "198.18.0.2"),
        Controller("ctl-b", "mgb", "192.168.1.3", "198.18.0.3"),
    )
    # keepalived's pair: separate namespaces with the same service, a VIP of their own
    vrrp: tuple[Member, ...] = (
        Member("k-primary", "k1", "192.168.1.20"),
        Member("k-standby", "k2", "192.168.1.21"),
    )
    vip: str = "192.168.1.60"
    client_ip: str = "192.168.1.100"
    eni: Eni = field(default_factory=Eni)

    def __post_init__(self) -> None:
        check_prefix(self.prefix)

    def ns(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    @property
    def vpc_ns(self) -> str:
        return self.ns("vpc")  # the bridge; also where a detached ENI waits (parked)

    @property
    def control_ns(self) -> str:
        return self.ns("ctl")  # ZooKeeper and the emulator, on the control bridge

    @property
    def client_ns(self) -> str:
        return self.ns("cli")

    @property
    def eni_port(self) -> str:
        return "eni0"  # the ENI veth's bridge-side end, in the VPC namespace

    @property
    def zk_hosts(self) -> str:
        return f"{CONTROL_IP}:{ZK_PORT}"

    @property
    def sim_endpoint(self) -> str:
        return f"{CONTROL_IP}:{SIM_PORT}"

    @property
    def namespaces(self) -> list[str]:
        roles = ["vpc", "ctl", "cli"]
        roles += [m.role for m in self.members] + [c.role for c in self.controllers]
        roles += [k.role for k in self.vrrp]
        return [self.ns(r) for r in roles]

    def member(self, instance_id: str) -> Member:
        for m in (*self.members, *self.vrrp):
            if m.instance_id == instance_id:
                return m
        raise KeyError(f"no lab instance {instance_id!r}")

    def controller(self, controller_id: str) -> Controller:
        for c in self.controllers:
            if c.controller_id == controller_id:
                return c
        raise KeyError(f"no lab controller {controller_id!r}")

    def instance_ns(self, instance_id: str) -> str:
        return self.ns(self.member(instance_id).role)

    def other(self, instance_id: str) -> Member:
        pair = self.vrrp if instance_id in {k.instance_id for k in self.vrrp} else self.members
        return next(m for m in pair if m.instance_id != instance_id)

    @property
    def state_file(self) -> str:
        return f"{STATE_DIR}/{self.prefix}.json"

    @property
    def run_dir(self) -> str:
        return f"{STATE_DIR}/{self.prefix}"
