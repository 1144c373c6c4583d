"""The VPC switch's source/destination check: each bridge port passes only its own addresses.

Alibaba's VPC delivers by ENI and, with the source/destination check on (the default for new
ENIs and instances since 2025-04-22), drops what an ENI sends from an address that is not one
of its own. The lab's VPC bridge enforces the same per port with an nftables `bridge` table:
an IPv4 packet or an ARP sender address from anything else is dropped (and counted).

The ENI has a bridge port of its own (`eni0`): its inner end moves between instances but its
port does not, so the allowed set (primary and secondary IPs) follows the ENI wherever it is
attached, and an instance's own port never passes the ENI's addresses. keepalived's pair gets
its VIP on both ports, as a HaVip bound to both instances would (a plain VIP fails this check
in a real VPC).
"""

from __future__ import annotations

import json
from typing import Any

from failover.lab import netns
from failover.lab.spec import LabSpec

NFT = "/usr/sbin/nft"
TABLE = "vpc"


def port_sources(spec: LabSpec) -> dict[str, tuple[str, ...]]:
    """Bridge port -> the source addresses the VPC accepts from it."""
    ports: dict[str, tuple[str, ...]] = {m.role: (m.ip,) for m in spec.members}
    ports |= {k.role: (k.ip, spec.vip) for k in spec.vrrp}
    ports |= {c.role: (c.vpc_ip,) for c in spec.controllers}
    ports["cli"] = (spec.client_ip,)
    ports[spec.eni_port] = spec.eni.ips
    return ports


def ruleset(spec: LabSpec) -> str:
    """The nft script: one chain per port, jumped to by the port a frame came in on."""
    lines = [f"table bridge {TABLE} {{"]
    ports = port_sources(spec)
    for port, ips in ports.items():
        allowed = ", ".join(ips)
        lines += [
            f"  chain port_{port} {{",
            f"    ether type ip ip saddr != {{ {allowed} }} counter drop",
            f"    ether type arp arp saddr ip != {{ {allowed} }} counter drop",
            "  }",
        ]
    vmap = ", ".join(f'"{port}" : jump port_{port}' for port in ports)
    lines += [
        "  chain forward {",
        "    type filter hook forward priority 0; policy accept;",
        f"    iifname vmap {{ {vmap} }}",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def enforce(spec: LabSpec) -> None:
    netns.run(netns.in_ns(spec.vpc_ns, [NFT, "-f", "-"]), input_text=ruleset(spec))


def active(spec: LabSpec) -> bool:
    """The check is in the switch now (read back from the kernel, not assumed)."""
    out = netns.run(netns.in_ns(spec.vpc_ns, [NFT, "list", "table", "bridge", TABLE]), check=False)
    return all(f"chain port_{port} " in out for port in port_sources(spec))


def drops(spec: LabSpec) -> dict[str, int]:
    """Packets dropped so far per port (0 for a port that dropped nothing)."""
    out = netns.run(netns.in_ns(spec.vpc_ns, [NFT, "-j", "list", "table", "bridge", TABLE]), check=False)
    counts = {port: 0 for port in port_sources(spec)}
    try:
        items = json.loads(out).get("nftables", []) if out else []
    except ValueError:
        return counts
    for item in items:
        rule: dict[str, Any] = item.get("rule") or {}
        port = str(rule.get("chain", "")).removeprefix("port_")
        for expr in rule.get("expr", []):
            if port in counts and isinstance(expr, dict) and "counter" in expr:
                counts[port] += int(expr["counter"].get("packets", 0))
    return counts
