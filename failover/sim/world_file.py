"""The world file that seeds the emulated cloud (the contract in DESIGN.md plus the emulator's
own keys): `load_world` validates it and builds the resources (`world.py`); every problem is
a `WorldError` naming the key path.
"""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path
from typing import Any

import yaml

from failover.sim.behaviour import make_behaviour
from failover.sim.timing import TimingError, make_timing
from failover.sim.world import (
    DEFAULT_LIMITS,
    INSTANCE_STATUSES,
    STOP_TO_ATTACH_TYPES,
    TIMING_KEYS,
    Eip,
    Eni,
    Instance,
    VSwitch,
    World,
    stop_to_attach,
)


class WorldError(ValueError):
    """A world file problem; `path` names the key, e.g. `instances[1].vswitch`."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


def _get(d: dict[str, Any], key: str, path: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    if key not in d or d[key] is None:
        if default is ...:
            raise WorldError(f"{path}.{key}".lstrip("."), "is required")
        return default
    v = d[key]
    if kind is float and isinstance(v, int) and not isinstance(v, bool):
        v = float(v)
    if not isinstance(v, kind) or (isinstance(v, bool) and kind in (int, float)):
        name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise WorldError(f"{path}.{key}".lstrip("."), f"must be {name}, got {type(v).__name__}")
    return v


def _items(d: dict[str, Any], key: str) -> list[dict[str, Any]]:
    v = _get(d, key, "", list, [])
    for i, item in enumerate(v):
        if not isinstance(item, dict):
            raise WorldError(f"{key}[{i}]", "must be a mapping")
    return list(v)


def _ip_in(ip: str, path: str, vsw: VSwitch) -> str:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        raise WorldError(path, f"{ip!r} is not an IP address") from None
    if addr not in ipaddress.ip_network(vsw.cidr):
        raise WorldError(path, f"{ip} is outside vSwitch {vsw.id} ({vsw.cidr})")
    return ip


def _tags(d: dict[str, Any], path: str) -> dict[str, str]:
    v = _get(d, "tags", path, dict, {})
    if not all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()):
        raise WorldError(f"{path}.tags", "must map tag keys to string values")
    return dict(v)


def make_mac(rng: random.Random) -> str:
    return "00:16:3e:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(3))


def load_world(data: Any) -> World:
    """Validates a parsed world file and builds the resources."""
    if not isinstance(data, dict):
        raise WorldError("", "the world file must be a mapping")
    seed = _get(data, "seed", "", int, 0)
    rng = random.Random(seed)
    region = _get(data, "region", "", str, "cn-hangzhou")
    keys = _get(data, "access_keys", "", dict)
    if not keys or not all(isinstance(k, str) and isinstance(v, str) for k, v in keys.items()):
        raise WorldError("access_keys", "must map at least one access key id to its secret (strings)")
    vswitches: dict[str, VSwitch] = {}
    vpcs: list[str] = []
    for i, vpc in enumerate(_items(data, "vpcs")):
        vid = _get(vpc, "id", f"vpcs[{i}]", str)
        vpcs.append(vid)
        for j, vs in enumerate(_get(vpc, "vswitches", f"vpcs[{i}]", list, [])):
            p = f"vpcs[{i}].vswitches[{j}]"
            if not isinstance(vs, dict):
                raise WorldError(p, "must be a mapping")
            cidr = _get(vs, "cidr", p, str)
            try:
                ipaddress.ip_network(cidr)
            except ValueError:
                raise WorldError(f"{p}.cidr", f"{cidr!r} is not a CIDR block") from None
            sid = _get(vs, "id", p, str)
            vswitches[sid] = VSwitch(id=sid, vpc=vid, zone=_get(vs, "zone", p, str), cidr=cidr)
    sgs: dict[str, str] = {}
    for i, sg in enumerate(_items(data, "security_groups")):
        vpc_id = _get(sg, "vpc", f"security_groups[{i}]", str)
        if vpc_id not in vpcs:
            raise WorldError(f"security_groups[{i}].vpc", f"unknown VPC {vpc_id!r}")
        sgs[_get(sg, "id", f"security_groups[{i}]", str)] = vpc_id

    def vswitch_of(d: dict[str, Any], p: str) -> VSwitch:
        sid = _get(d, "vswitch", p, str)
        if sid not in vswitches:
            raise WorldError(f"{p}.vswitch", f"unknown vSwitch {sid!r}")
        return vswitches[sid]

    def sg_list(d: dict[str, Any], p: str, vsw: VSwitch) -> list[str]:
        out = _get(d, "security_groups", p, list, [])
        for k, sg in enumerate(out):
            if sg not in sgs:
                raise WorldError(f"{p}.security_groups[{k}]", f"unknown security group {sg!r}")
            if sgs[sg] != vsw.vpc:
                raise WorldError(f"{p}.security_groups[{k}]", f"{sg} is in another VPC")
        return [str(s) for s in out]

    instances: dict[str, Instance] = {}
    enis: dict[str, Eni] = {}
    types: dict[str, tuple[int, int]] = {}
    stopped_types = _get(data, "stop_to_attach_types", "", list, list(STOP_TO_ATTACH_TYPES))
    if not all(isinstance(t, str) and t.startswith("ecs.") for t in stopped_types):
        raise WorldError("stop_to_attach_types", "must be a list of instance-type prefixes like ecs.t6")
    for i, d in enumerate(_items(data, "instances")):
        p = f"instances[{i}]"
        vsw = vswitch_of(d, p)
        status = _get(d, "status", p, str, "Running")
        if status not in INSTANCE_STATUSES:
            raise WorldError(f"{p}.status", f"must be one of {', '.join(INSTANCE_STATUSES)}")
        itype = _get(d, "type", p, str, "ecs.g7.large")
        inst = Instance(
            id=_get(d, "id", p, str),
            status=status,
            vswitch=vsw.id,
            type=itype,
            primary_ip=_ip_in(_get(d, "primary_ip", p, str), f"{p}.primary_ip", vsw),
            max_enis=_get(d, "max_enis", p, int, 3),
            max_ips_per_eni=_get(d, "max_ips_per_eni", p, int, 10),
            hotplug=_get(d, "hotplug", p, bool, not stop_to_attach(itype, stopped_types)),
            hung=_get(d, "hung", p, bool, False),
            cloud_assistant=_get(d, "cloud_assistant", p, bool, True),
            os_type=_get(d, "os_type", p, str, "linux"),
            name=_get(d, "name", p, str, ""),
            security_groups=sg_list(d, p, vsw),
            tags=_tags(d, p),
            staged={str(k): str(v) for k, v in _get(d, "staged", p, dict, {}).items()},
        )
        if inst.max_enis < 1 or inst.max_ips_per_eni < 1:
            raise WorldError(f"{p}.max_enis", "max_enis and max_ips_per_eni must be at least 1")
        if types.setdefault(inst.type, (inst.max_enis, inst.max_ips_per_eni)) != (
            inst.max_enis,
            inst.max_ips_per_eni,
        ):
            raise WorldError(
                f"{p}.max_enis", f"instance type {inst.type} has other limits on another instance"
            )
        inst.primary_eni = _get(d, "primary_eni", p, str, f"eni-p-{inst.id}")
        if inst.id in instances:
            raise WorldError(f"{p}.id", f"duplicate instance {inst.id}")
        instances[inst.id] = inst
        enis[inst.primary_eni] = Eni(
            id=inst.primary_eni,
            status="InUse",
            type="Primary",
            vswitch=vsw.id,
            security_groups=list(inst.security_groups),
            primary_ip=inst.primary_ip,
            secondary_ips=[],
            mac=_get(d, "mac", p, str, make_mac(rng)),
            instance=inst.id,
            device_index=0,
        )
    for i, d in enumerate(_items(data, "network_interfaces")):
        p = f"network_interfaces[{i}]"
        vsw = vswitch_of(d, p)
        eid = _get(d, "id", p, str)
        if eid in enis:
            raise WorldError(f"{p}.id", f"duplicate network interface {eid}")
        owner = _get(d, "instance", p, str, None)
        if owner is not None and owner not in instances:
            raise WorldError(f"{p}.instance", f"unknown instance {owner!r}")
        secondary = [
            _ip_in(str(ip), f"{p}.secondary_ips[{k}]", vsw)
            for k, ip in enumerate(_get(d, "secondary_ips", p, list, []))
        ]
        eni_type = _get(d, "type", p, str, "Secondary")
        if eni_type not in ("Secondary", "Primary"):
            raise WorldError(f"{p}.type", "must be Secondary or Primary")
        enis[eid] = Eni(
            id=eid,
            status="InUse" if owner else "Available",
            type=eni_type,
            vswitch=vsw.id,
            security_groups=sg_list(d, p, vsw),
            primary_ip=_ip_in(_get(d, "primary_ip", p, str), f"{p}.primary_ip", vsw),
            secondary_ips=secondary,
            mac=_get(d, "mac", p, str, make_mac(rng)),
            instance=owner,
            name=_get(d, "name", p, str, ""),
            shown_status=_get(d, "shown_status", p, str, None),
            tags=_tags(d, p),
        )
    _check_unique_ips(enis)
    _number_devices(enis)
    eips: dict[str, Eip] = {}
    for i, d in enumerate(_items(data, "eips")):
        p = f"eips[{i}]"
        eni_id = _get(d, "network_interface", p, str, None)
        mode = _get(d, "mode", p, str, "NAT") if eni_id else None
        if mode not in (None, "NAT", "BINDED", "MULTI_BINDED"):
            raise WorldError(f"{p}.mode", "must be NAT, BINDED or MULTI_BINDED")
        private_ip = None
        if eni_id is not None:
            if eni_id not in enis:
                raise WorldError(f"{p}.network_interface", f"unknown network interface {eni_id!r}")
            private_ip = _get(d, "private_ip", p, str, enis[eni_id].primary_ip)
            if private_ip not in [enis[eni_id].primary_ip, *enis[eni_id].secondary_ips]:
                raise WorldError(f"{p}.private_ip", f"{private_ip} is not a private IP of {eni_id}")
        eid = _get(d, "id", p, str)
        eips[eid] = Eip(
            id=eid,
            ip=_get(d, "ip", p, str),
            status="InUse" if eni_id else "Available",
            network_interface=eni_id,
            private_ip=private_ip,
            mode=mode,
            tags=_tags(d, p),
        )
    timing = _get(data, "timing", "", dict, {})
    for k, v in timing.items():
        if k in TIMING_KEYS and (not isinstance(v, int | float) or isinstance(v, bool) or v < 0):
            raise WorldError(f"timing.{k}", "must be a number of seconds >= 0")
    try:
        make_timing(timing, seed)
        make_behaviour(timing)
    except TimingError as e:
        raise WorldError(e.path, e.message) from None
    limits = dict(DEFAULT_LIMITS)
    for k, v in _get(data, "limits", "", dict, {}).items():
        if k not in DEFAULT_LIMITS or not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise WorldError(
                f"limits.{k}", f"must be one of {', '.join(DEFAULT_LIMITS)} with a positive integer"
            )
        limits[k] = v
    return World(
        region=region,
        access_keys=dict(keys),
        vpcs=vpcs,
        vswitches=vswitches,
        security_groups=sgs,
        instances=instances,
        enis=enis,
        eips=eips,
        timing=dict(timing),
        limits=limits,
        seed=seed,
    )


def _check_unique_ips(enis: dict[str, Eni]) -> None:
    seen: dict[str, str] = {}
    for eni in enis.values():
        for ip in [eni.primary_ip, *eni.secondary_ips]:
            if ip in seen:
                raise WorldError(f"network_interfaces.{eni.id}", f"IP {ip} is also held by {seen[ip]}")
            seen[ip] = eni.id


def _number_devices(enis: dict[str, Eni]) -> None:
    count: dict[str, int] = {}
    for eni in enis.values():
        if eni.instance is not None and eni.type == "Secondary":
            count[eni.instance] = count.get(eni.instance, 0) + 1
            eni.device_index = count[eni.instance]


def read_world_file(path: str | Path) -> World:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise WorldError("", f"cannot read {path}: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise WorldError("", f"{path} is not valid YAML: {' '.join(str(e).split())}") from None
    return load_world(data)
