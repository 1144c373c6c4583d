"""The emulated cloud's resources: plain dataclasses, so the whole state dumps to JSON and
loads back (`--state-file`). `world_file.load_world` builds them from a world file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

DEFAULT_LIMITS = {"available_ips": 10, "security_group_ips": 2000}
TIMING_KEYS = ("attach_s", "detach_s", "command_s", "stop_s", "start_s", "eip_s")
INSTANCE_STATUSES = ("Running", "Stopped", "Starting", "Stopping", "Pending")
# Instance types that take or release an ENI only while Stopped (AttachNetworkInterface's page
# points to the list in the "Bind an ENI" topic: the shared families, the burstable t5/t6 and
# the economy e family). A prefix matches a type equal to it or going on with "." or "-".
STOP_TO_ATTACH_TYPES = ("ecs.t5", "ecs.t6", "ecs.s6", "ecs.xn4", "ecs.n4", "ecs.mn4", "ecs.e4",
                        "ecs.e")


def stop_to_attach(instance_type: str, prefixes: tuple[str, ...] | list[str]) -> bool:
    """True when the type changes ENIs only while Stopped."""
    return any(instance_type == p or instance_type.startswith((p + ".", p + "-")) for p in prefixes)


@dataclass(kw_only=True)
class Stateful:
    """A resource whose status moves along a plan of future steps (see `state.State.advance`)."""

    id: str
    status: str
    # each step: {"status", "due" (epoch s, None = waits for an event), "effect"?, "deadline"?, "else"?}
    plan: list[dict[str, Any]] = field(default_factory=list)
    # The resource's tags (instances, ENIs, EIPs): the RAM policy's conditions read them.
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(kw_only=True)
class VSwitch:
    id: str
    vpc: str
    zone: str
    cidr: str


@dataclass(kw_only=True)
class Instance(Stateful):
    vswitch: str
    type: str
    primary_ip: str
    max_enis: int
    max_ips_per_eni: int
    hotplug: bool = True
    hung: bool = False
    crashed: bool = False
    # while crashed: does a detach stall like on a hung guest? None = drawn (timing's share)
    crash_stalls_detach: bool | None = None
    cloud_assistant: bool = True
    os_type: str = "linux"
    name: str = ""
    security_groups: list[str] = field(default_factory=list)
    primary_eni: str = ""
    # The guest's pre-staged hot-plug triggers, by ENI MAC -> version: what a stage script
    # (run by Cloud Assistant) installed on its disk; survives stops and crashes.
    staged: dict[str, str] = field(default_factory=dict)


@dataclass(kw_only=True)
class Eni(Stateful):
    vswitch: str
    security_groups: list[str]
    primary_ip: str
    secondary_ips: list[str]
    mac: str
    instance: str | None = None
    type: str = "Secondary"
    device_index: int | None = None
    fail_next_attach: bool = False
    name: str = ""
    # A status the describes show instead of the real one (`Creating`, or any string the
    # cloud may add); while set, attach and detach are refused as for a busy ENI.
    shown_status: str | None = None
    # Describe lag: until `until`, describes still show this older {status, instance}.
    lagged: dict[str, Any] | None = None


@dataclass(kw_only=True)
class Eip(Stateful):
    ip: str
    network_interface: str | None = None
    private_ip: str | None = None
    mode: str | None = None
    instance_type: str = "NetworkInterface"


@dataclass(kw_only=True)
class InvokeRecord(Stateful):
    """One instance's run of one invocation (`id` is `<invoke id>/<instance id>`)."""

    invoke_id: str
    instance: str
    created: float
    exit_code: int | None = None
    output: str = ""
    error_code: str = ""
    error_info: str = ""
    finished: float | None = None


@dataclass(kw_only=True)
class Invocation:
    id: str
    command_id: str
    type: str
    content: str
    name: str
    timeout_s: int
    created: float
    instances: list[str]
    parameters: str = ""


@dataclass
class World:
    region: str
    access_keys: dict[str, str]
    vpcs: list[str]
    vswitches: dict[str, VSwitch]
    security_groups: dict[str, str]  # sg id -> vpc id
    instances: dict[str, Instance]
    enis: dict[str, Eni]
    eips: dict[str, Eip]
    timing: dict[str, Any]
    limits: dict[str, int]
    seed: int = 0
    invocations: dict[str, Invocation] = field(default_factory=dict)
    records: dict[str, InvokeRecord] = field(default_factory=dict)

    def vpc_of(self, vswitch_id: str) -> str:
        return self.vswitches[vswitch_id].vpc

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("vswitches", "instances", "enis", "eips", "invocations", "records"):
            out[key] = list(out[key].values())
        return out
