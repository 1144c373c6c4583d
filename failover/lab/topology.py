"""Builds and removes the lab's namespaces and links, and keeps the record `down` relies on.

The record (`/run/failover-lab/<prefix>.json`) is written *before* anything is created, so a
crash in the middle still leaves `down` a list to remove. Every link is created with both ends
inside lab namespaces (`ip link add ... netns`): no lab interface or address ever exists in the
root namespace, so the root namespace has no route to the lab.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from failover.lab import netns, vpcswitch
from failover.lab.spec import (
    CONTROL_IP,
    CONTROL_SUBNET_PREFIXLEN,
    NAME_PATTERN,
    PREFIXLEN,
    STATE_DIR,
    LabSpec,
    Member,
    check_prefix,
)

BRIDGE = "br0"
GUEST_TABLE = 1001  # the guest script's defaults (failover/guest): same table and rule priority
GUEST_PRIO = 10000
GATEWAY = "192.168.1.253"  # Alibaba's vSwitch gateway rule; nothing answers there in the lab
# Cloud images (NetworkManager on Alibaba Cloud Linux 3 / RHEL 8+, networkd via netplan on
# Ubuntu 20.04+ / Debian 12) give the primary NIC's connected route metric 100, so any metric-0
# route an ENI adds to the same subnet in `main` wins: the lab's instances are the same.
PRIMARY_METRIC = 100

# Instances behave like cloud images with a secondary ENI: strict reverse-path filtering
# (replies must leave by the ENI: policy routing), and ARP answered only by the interface that
# holds the address (the VPC delivers by ENI, never by a neighbour's ARP answer).
INSTANCE_SYSCTLS = {
    "net.ipv4.conf.all.rp_filter": "1", "net.ipv4.conf.default.rp_filter": "1",
    "net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.default.arp_ignore": "1",
    "net.ipv4.conf.all.arp_announce": "2", "net.ipv4.conf.default.arp_announce": "2",
}
NO_IPV6 = {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}


# ------------------------------------------------------------------ the record


def read_state(prefix: str) -> dict[str, Any]:
    path = Path(STATE_DIR) / f"{prefix}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"prefix": prefix, "namespaces": [], "pids": {}}
    return data if isinstance(data, dict) else {"prefix": prefix, "namespaces": [], "pids": {}}


def write_state(prefix: str, data: dict[str, Any]) -> None:
    Path(STATE_DIR).mkdir(mode=0o755, parents=True, exist_ok=True)
    path = Path(STATE_DIR) / f"{prefix}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def record_pid(prefix: str, name: str, pid: int) -> None:
    data = read_state(prefix)
    data.setdefault("pids", {})[name] = pid
    write_state(prefix, data)


def known_prefixes() -> list[str]:
    d = Path(STATE_DIR)
    found = {p.stem for p in d.glob("flab*.json")} if d.is_dir() else set()
    found |= {n.split("-", 1)[0] for n in netns.list_netns() if NAME_PATTERN.match(n)}
    return sorted(p for p in found if _valid(p))


def _valid(prefix: str) -> bool:
    try:
        check_prefix(prefix)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------ building


def build(spec: LabSpec) -> Path:
    """Namespaces, the VPC and control bridges, every instance's eth0, the ENI on the primary."""
    run_dir = Path(spec.run_dir)
    run_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
    write_state(spec.prefix, {"prefix": spec.prefix, "run_dir": str(run_dir), "created_at": time.time(),
                              "namespaces": spec.namespaces, "pids": {}})
    for ns in spec.namespaces:
        netns.ip(None, "netns", "add", ns)
        netns.sysctl(ns, NO_IPV6)
        netns.ip(ns, "link", "set", "dev", "lo", "up")
    netns.ip_batch(spec.vpc_ns, [f"link add name {BRIDGE} type bridge", f"link set dev {BRIDGE} up"])
    netns.ip_batch(spec.control_ns, [
        f"link add name {BRIDGE} type bridge", f"link set dev {BRIDGE} up",
        f"addr add {CONTROL_IP}/{CONTROL_SUBNET_PREFIXLEN} dev {BRIDGE}",
    ])
    for m in (*spec.members, *spec.vrrp):
        netns.sysctl(spec.ns(m.role), INSTANCE_SYSCTLS)
        _leg(spec.vpc_ns, m.role, spec.ns(m.role), "eth0", m.ip, metric=PRIMARY_METRIC)
    for c in spec.controllers:
        # the controllers probe the members from the members' own subnet, as in example.yaml
        _leg(spec.vpc_ns, c.role, spec.ns(c.role), "eth0", c.vpc_ip, metric=PRIMARY_METRIC)
        _leg(spec.control_ns, c.role, spec.ns(c.role), "ctl0", c.control_ip, CONTROL_SUBNET_PREFIXLEN)
    _leg(spec.vpc_ns, "cli", spec.client_ns, "eth0", spec.client_ip, metric=PRIMARY_METRIC)
    eni = spec.eni
    primary = spec.members[0]
    netns.ip_batch(spec.vpc_ns, [
        f"link add name {spec.eni_port} type veth peer name {eni.inner_name} address {eni.mac} "
        f"netns {spec.ns(primary.role)}",
        f"link set dev {spec.eni_port} master {BRIDGE}", f"link set dev {spec.eni_port} up",
    ])
    bootstrap_eni(spec, spec.ns(primary.role))
    vpcswitch.enforce(spec)
    return run_dir


def _leg(bridge_ns: str, port: str, ns: str, inner: str, address: str, plen: int = PREFIXLEN,
         metric: int = 0) -> None:
    netns.ip_batch(bridge_ns, [
        f"link add name {port} type veth peer name {inner} netns {ns}",
        f"link set dev {port} master {BRIDGE}", f"link set dev {port} up",
    ])
    # `metric` on the address: the kernel's connected route gets it (what NetworkManager does)
    netns.ip_batch(ns, [f"addr add {address}/{plen} dev {inner}" + (f" metric {metric}" if metric else ""),
                        f"link set dev {inner} up"])


def bootstrap_eni(spec: LabSpec, ns: str) -> None:
    """What the primary's image holds at start: the ENI up with its IPs and policy routing.

    The same runtime state the guest script (failover/guest) leaves, with the same table and
    rule priority and no prefix route in `main`, so that script later replaces it cleanly.
    """
    eni = spec.eni
    dev = eni.inner_name
    cmds = [f"link set dev {dev} up"]
    cmds += [f"addr replace {a}/{PREFIXLEN} dev {dev} noprefixroute" for a in eni.ips]
    cmds += [
        f"route replace 192.168.1.0/{PREFIXLEN} dev {dev} src {eni.primary_ip} table {GUEST_TABLE}",
        f"route replace default via {GATEWAY} dev {dev} table {GUEST_TABLE}",
    ]
    cmds += [f"rule add from {a} lookup {GUEST_TABLE} priority {GUEST_PRIO}" for a in eni.ips]
    netns.ip_batch(ns, cmds)


def member_link(spec: LabSpec, m: Member, up: bool) -> None:
    """A member's eth0 up (with its address back) or down: the instance is (un)reachable."""
    ns = spec.ns(m.role)
    if up:
        netns.ip_batch(ns, [f"addr replace {m.ip}/{PREFIXLEN} dev eth0 metric {PRIMARY_METRIC}",
                            "link set dev eth0 up"])
    else:
        netns.ip(ns, "link", "set", "dev", "eth0", "down")


# ------------------------------------------------------------------ removing


def destroy(prefix: str) -> list[str]:
    """Removes one lab (processes, namespaces, files); idempotent; returns what it removed."""
    check_prefix(prefix)
    removed: list[str] = []
    data = read_state(prefix)
    names = set(data.get("namespaces", [])) | {n for n in netns.list_netns() if n.startswith(prefix + "-")}
    names = {n for n in names if NAME_PATTERN.match(n) and n.startswith(prefix + "-")}
    # recorded processes first (they may have left their namespace), then whatever is inside
    pids = [int(p) for p in data.get("pids", {}).values() if isinstance(p, int) and _ours(int(p), prefix)]
    netns.stop_pids(pids, grace_s=2.0)
    existing = set(netns.list_netns())
    for ns in sorted(names):
        if ns in existing:
            netns.kill_netns(ns, grace_s=2.0)
            removed.append(ns)
    base = Path(STATE_DIR)
    for path in (base / prefix, base / f"{prefix}.json", base / f"{prefix}.tmp"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink(missing_ok=True)
    return removed


def _ours(pid: int, prefix: str) -> bool:
    """A recorded pid is only killed if its command line still names this lab (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return prefix.encode() in cmdline


def leftovers(prefix: str) -> list[str]:
    """Anything of this lab still on the machine: namespaces, root links, processes, files."""
    found = [f"netns {n}" for n in netns.list_netns() if n.startswith(prefix + "-")]
    links = netns.ip(None, "-o", "link", "show", check=False)
    found += [f"link {line.split(':')[1].strip()}" for line in links.splitlines() if prefix in line]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and proc.name != str(os.getpid()) and _ours(int(proc.name), prefix):
            found.append(f"process {proc.name}")
    for path in (Path(STATE_DIR) / prefix, Path(STATE_DIR) / f"{prefix}.json"):
        if path.exists():
            found.append(f"file {path}")
    return found
