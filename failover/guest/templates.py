"""A tiny template form for persistent config, expandable by Python and by POSIX sh alike.

A file is a list of segments, each emitted once, once per IP (`k` counts
from 0, `j` is k-1 and empty for the primary) or once per secondary IP
(`j` from 0). Placeholders are `@name@`. Python expands them into the text
`failover guest render` prints and golden tests pin; `script.py` turns the
same templates into here-documents inside loops, so the guest writes the
same bytes while the script stays the same size for 1 or 20 IPs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from failover.guest.validate import netmask, prefixlen
from failover.model import GuestNetwork

ONCE, PER_IP, PER_SECONDARY = "once", "ip", "secondary"
PLACEHOLDER = re.compile(r"@([a-z]+)@")
# template name -> shell variable the script defines
SCALARS = {
    "dev": "DEV", "mac": "MAC", "mask": "MASK", "prefix": "PREFIX", "table": "TABLE",
    "gw": "GW", "cidr": "CIDR", "primary": "PRIMARY", "prio": "PRIO", "root": "ROOT",
}
ITEMS = {"ip": "ip", "k": "k", "j": "j"}


@dataclass(frozen=True)
class Seg:
    text: str  # lines, each ending in "\n"
    each: str = ONCE


@dataclass(frozen=True)
class FileSpec:
    path: str
    segs: tuple[Seg, ...]
    mode: str = "644"
    each: str = ONCE  # PER_SECONDARY: one file per secondary IP (`@j@` in the path)


@dataclass(frozen=True)
class ListSpec:
    """A per-IP list joined into one value, e.g. nmcli's `ipv4.addresses`."""

    name: str
    item: str
    sep: str


@dataclass(frozen=True)
class FamilySpec:
    family: str
    files: tuple[FileSpec, ...] = ()
    lists: tuple[ListSpec, ...] = ()
    commands: tuple[str, ...] = ()  # POSIX sh, after the files
    notes: tuple[str, ...] = ()
    guard: bool = False  # the cloud-init guard, where the docs call for it
    sweep: tuple[str, ...] = ()  # globs of per-secondary files: ours go before rewriting


def scalars(n: GuestNetwork, dev: str, root: str, prio: int) -> dict[str, str]:
    return {
        "dev": dev, "mac": n.mac, "mask": netmask(n), "prefix": str(prefixlen(n)),
        "table": str(n.table), "gw": n.gateway, "cidr": n.cidr, "primary": n.ips[0],
        "prio": str(prio), "root": root,
    }


def fill(template: str, values: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        return values[m.group(1)]

    return PLACEHOLDER.sub(sub, template)


def items(n: GuestNetwork, each: str) -> list[dict[str, str]]:
    if each == PER_IP:
        return [{"ip": ip, "k": str(k), "j": "" if k == 0 else str(k - 1)} for k, ip in enumerate(n.ips)]
    if each == PER_SECONDARY:
        return [{"ip": ip, "k": str(j + 1), "j": str(j)} for j, ip in enumerate(n.ips[1:])]
    return [{}]


def expand_segs(segs: tuple[Seg, ...], n: GuestNetwork, values: dict[str, str]) -> str:
    out: list[str] = []
    for seg in segs:
        out.extend(fill(seg.text, values | it) for it in items(n, seg.each))
    return "".join(out)


def expand_lists(spec: FamilySpec, n: GuestNetwork, values: dict[str, str]) -> dict[str, str]:
    return {
        ls.name: ls.sep.join(fill(ls.item, values | it) for it in items(n, PER_IP))
        for ls in spec.lists
    }


def to_shell(template: str, extra: tuple[str, ...] = ()) -> str:
    """`@dev@` -> `${DEV}`, `@ip@` -> `${ip}`: the names the script defines."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        var = SCALARS.get(name) or ITEMS.get(name) or (name if name in extra else None)
        if var is None:
            raise ValueError(f"unknown placeholder @{name}@")
        return "${" + var + "}"

    return PLACEHOLDER.sub(sub, template)
