"""Input checks for guest rendering: one clear error, naming the field, before anything renders.

Everything a script or config file interpolates passes through here first, so
the renderers can quote nothing and still never emit shell or YAML syntax.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import replace

from failover.model import GuestNetwork

FAMILIES: tuple[str, ...] = (
    "auto", "nmcli", "netplan", "netplan-legacy", "rhel", "debian", "suse", "windows",
)
LINUX_FAMILIES: tuple[str, ...] = tuple(f for f in FAMILIES if f not in ("auto", "windows"))
MAX_IPS = 20  # an ENI holds at most 20 private IPs (ECS docs)
# Tables 0 and 253-255 are the kernel's (unspec, default, main, local).
RESERVED_TABLES = frozenset({0, 253, 254, 255})
MAX_TABLE = 252_000_000

_MAC = re.compile(r"^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")
# IFNAMSIZ is 16 with the NUL; no ':' (that is an alias label, not a device).
_IFNAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$")

Label = Callable[[str], str]


class GuestInputError(ValueError):
    """Bad guest input: `field` names the offending input, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


def _plain(name: str) -> str:
    return name


def check_family(family: str, label: Label = _plain) -> str:
    if family not in FAMILIES:
        raise GuestInputError(
            label("os"), f"unknown family {family!r}; use one of {', '.join(FAMILIES)}"
        )
    return family


def check_network(network: GuestNetwork, label: Label = _plain) -> GuestNetwork:
    """The network normalised (lower-case colon MAC), or GuestInputError on the first problem."""
    net = _cidr(network.cidr, label)
    mac = _mac(network.mac, label)
    ips = _ips(network.ips, net, label)
    gateway = _gateway(network.gateway, net, ips, label)
    if network.device is not None and not _IFNAME.match(network.device):
        raise GuestInputError(
            label("device"),
            f"{network.device!r} is not an interface name (1-15 of A-Z a-z 0-9 _ . -, no ':')",
        )
    table = network.table
    if isinstance(table, bool) or not isinstance(table, int) or not 1 <= table <= MAX_TABLE:
        raise GuestInputError(label("table"), f"{table!r} is not a table id in 1..{MAX_TABLE}")
    if table in RESERVED_TABLES:
        raise GuestInputError(label("table"), f"{table} is a kernel table (default/main/local)")
    return replace(network, mac=mac, ips=ips, cidr=str(net), gateway=gateway)


def _cidr(cidr: str, label: Label) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(cidr, strict=False)
    except ValueError:
        raise GuestInputError(label("cidr"), f"{cidr!r} is not an IPv4 CIDR like 192.168.1.0/24") from None
    if str(net) != cidr.strip():
        raise GuestInputError(label("cidr"), f"{cidr} has host bits set; the vSwitch CIDR is {net}")
    if net.prefixlen > 30:
        raise GuestInputError(label("cidr"), f"{cidr} leaves no room for hosts (a vSwitch is /8../30)")
    return net


def _mac(mac: str, label: Label) -> str:
    m = mac.strip().lower()
    if not _MAC.match(m):
        raise GuestInputError(label("mac"), f"{mac!r} is not a MAC address like 00:16:3e:12:34:56")
    m = m.replace("-", ":")
    if int(m[:2], 16) & 1:
        raise GuestInputError(label("mac"), f"{mac} is a multicast address, not an ENI's")
    return m


def _ips(ips: tuple[str, ...], net: ipaddress.IPv4Network, label: Label) -> tuple[str, ...]:
    if not ips:
        raise GuestInputError(label("ips"), "at least one private IP is needed (the ENI's primary first)")
    if len(ips) > MAX_IPS:
        raise GuestInputError(label("ips"), f"{len(ips)} IPs; an ENI holds at most {MAX_IPS}")
    out: list[str] = []
    for raw in ips:
        try:
            ip = ipaddress.IPv4Address(raw.strip())
        except ValueError:
            raise GuestInputError(label("ips"), f"{raw!r} is not an IPv4 address") from None
        if ip not in net:
            raise GuestInputError(label("ips"), f"{ip} is outside {label('cidr')} {net}")
        if ip in (net.network_address, net.broadcast_address):
            raise GuestInputError(label("ips"), f"{ip} is the network or broadcast address of {net}")
        if str(ip) in out:
            raise GuestInputError(label("ips"), f"{ip} is listed twice")
        out.append(str(ip))
    return tuple(out)


def _gateway(gateway: str, net: ipaddress.IPv4Network, ips: tuple[str, ...], label: Label) -> str:
    try:
        gw = ipaddress.IPv4Address(gateway.strip())
    except ValueError:
        raise GuestInputError(label("gateway"), f"{gateway!r} is not an IPv4 address") from None
    if gw not in net:
        raise GuestInputError(label("gateway"), f"{gw} is outside {label('cidr')} {net}")
    if str(gw) in ips:
        raise GuestInputError(label("gateway"), f"{gw} is also one of the ENI's IPs")
    return str(gw)


def netmask(network: GuestNetwork) -> str:
    return str(ipaddress.IPv4Network(network.cidr).netmask)


def prefixlen(network: GuestNetwork) -> int:
    return ipaddress.IPv4Network(network.cidr).prefixlen
