"""What a standby gets, as one printable bundle: the script plus the persistent config.

`failover guest render` prints it for operators and runbooks; the golden
tests pin it per family.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from failover.guest.persistent import Persistent, render_persistent
from failover.guest.script import render_release, render_runtime
from failover.guest.validate import Label, check_family, check_network
from failover.model import GuestNetwork


@dataclass(frozen=True)
class Bundle:
    family: str
    network: GuestNetwork
    script: str
    release: bool
    persistent: Persistent | None

    def to_dict(self) -> dict[str, Any]:
        n = self.network
        p = self.persistent
        return {
            "os": self.family,
            "action": "release" if self.release else "configure",
            "network": {"mac": n.mac, "ips": list(n.ips), "cidr": n.cidr, "gateway": n.gateway,
                        "device": n.device, "table": n.table},
            "script": self.script,
            "script_bytes": len(self.script.encode()),
            "files": [] if p is None else [
                {"path": f.path, "mode": f.mode, "content": f.content} for f in p.files
            ],
            "commands": [] if p is None else list(p.commands),
            "notes": [] if p is None else list(p.notes),
        }

    def to_text(self) -> str:
        n = self.network
        lang = "PowerShell" if self.family == "windows" else "POSIX sh + iproute2"
        admin = "Administrator" if self.family == "windows" else "root"
        what = (f"release: run as {admin} on a returning old holder" if self.release
                else f"runtime: run as {admin} on the standby")
        out = [
            f"# os={self.family} mac={n.mac} ips={','.join(n.ips)} cidr={n.cidr} gateway={n.gateway} "
            f"device={n.device or '(found by MAC)'} table={n.table}",
            f"# ===== script ({lang}; {what}; {len(self.script.encode())} bytes) =====",
            self.script.rstrip("\n"),
        ]
        p = self.persistent
        if p is None:
            if self.family == "auto" and not self.release:
                out.append("# ===== persistent files: chosen at runtime from /etc/os-release and the "
                           "tools present (render --os FAMILY to see them) =====")
            return "\n".join(out) + "\n"
        for f in p.files:
            out += [f"# ===== file {f.path} (mode {f.mode}) =====", f.content.rstrip("\n")]
        if p.commands:
            out += ["# ===== commands (after the files) =====", *p.commands]
        out += [f"# note: {note}" for note in p.notes]
        return "\n".join(out) + "\n"


def render_bundle(
    family: str, network: GuestNetwork, *, release: bool = False, label: Label | None = None
) -> Bundle:
    """Checks the input (GuestInputError names the field via `label`), then renders."""
    lab = label or (lambda name: name)
    check_family(family, lab)
    n = check_network(network, lab)
    if release:
        return Bundle(family, n, render_release(n, family), True, None)
    persistent = None if family in ("auto", "windows") else render_persistent(family, n)
    return Bundle(family, n, render_runtime(n, family), False, persistent)
