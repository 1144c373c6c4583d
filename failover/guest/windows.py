"""Windows guests: one PowerShell script that is both the runtime and the persistent config.

`New-NetIPAddress` writes to the active and the persistent store at once, so
there is no separate file to keep. The scripts live in `scripts/*.ps1.tmpl`;
only checked values fill their `@name@` placeholders.
"""

from __future__ import annotations

from importlib import resources

from failover.guest.templates import fill
from failover.guest.validate import prefixlen
from failover.model import GuestNetwork

ENI_ROUTE_METRIC = 500


def _render(name: str, n: GuestNetwork, wait_s: int) -> str:
    template = resources.files("failover.guest").joinpath("scripts", name).read_text(encoding="utf-8")
    return fill(template, {
        "mac": n.mac, "winmac": n.mac.replace(":", "-").upper(),
        "iplist": ", ".join(f"'{ip}'" for ip in n.ips), "prefix": str(prefixlen(n)),
        "gw": n.gateway, "wait": str(wait_s), "metric": str(ENI_ROUTE_METRIC),
    })


def render_windows_configure(n: GuestNetwork, *, wait_s: int = 30) -> str:
    return _render("configure.ps1.tmpl", n, wait_s)


def render_windows_release(n: GuestNetwork) -> str:
    return _render("release.ps1.tmpl", n, 0)
