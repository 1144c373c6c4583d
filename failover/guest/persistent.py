"""Persistent network configuration per Linux family, so a reboot keeps the ENI working.

Every family gets the state the runtime script builds with iproute2: the
ENI's IPs with the vSwitch prefix, no default route in the main table
(`DEFROUTE=no`, `never-default`, no `gateway` line), and the ENI's own table
(the subnet, and the default via the vSwitch gateway) chosen by `from <ip>`
rules. The specs are templates (see `templates.py`); `render_persistent`
expands them for one network.
"""

from __future__ import annotations

from dataclasses import dataclass

from failover.guest.templates import (
    PER_IP,
    PER_SECONDARY,
    FamilySpec,
    FileSpec,
    ListSpec,
    Seg,
    expand_lists,
    expand_segs,
    fill,
    items,
    scalars,
)
from failover.model import GuestNetwork

RULE_PRIORITY = 10000  # before main (32766); one value for every ENI, their `from` differ
CLOUD_INIT_GUARD = "/etc/cloud/cloud.cfg.d/99-disable-network-config.cfg"
GUARD_CONTENT = "network: {config: disabled}\n"
MARKER = "# failover: ENI @mac@ (generated; an original is kept as FILE.failover-bak)\n"
TABLE_ROUTES = (
    "@cidr@ dev @dev@ src @primary@ table @table@\n"
    "default via @gw@ dev @dev@ table @table@\n"
)
RULE = "from @ip@ table @table@ priority @prio@\n"


@dataclass(frozen=True)
class ConfigFile:
    path: str
    content: str
    mode: str = "644"


@dataclass(frozen=True)
class Persistent:
    family: str
    files: tuple[ConfigFile, ...] = ()
    commands: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


_NM_SETTINGS = (
    "connection.autoconnect yes 802-3-ethernet.mac-address @mac@ ipv4.method manual "
    'ipv4.addresses "@addrs@" ipv4.never-default yes '
    'ipv4.routes "@cidr@ table=@table@ src=@primary@, 0.0.0.0/0 @gw@ table=@table@" '
    'ipv4.routing-rules "@rules@" ipv6.method ignore'
)
NMCLI = FamilySpec(
    "nmcli",
    lists=(
        ListSpec("addrs", "@ip@/@prefix@", ","),
        ListSpec("rules", "priority @prio@ from @ip@ table @table@", ", "),
    ),
    # modify, never delete+add: deleting an active profile would tear the live addresses down
    commands=(
        'if nmcli -g NAME connection show | grep -qxF "failover-@dev@"; then '
        f'nmcli connection modify "failover-@dev@" {_NM_SETTINGS}; else '
        f'nmcli connection add type ethernet con-name "failover-@dev@" ifname "@dev@" {_NM_SETTINGS}; fi',
    ),
    notes=("NetworkManager stores the profile (keyfile or ifcfg-rh) and applies it on boot; "
           "the runtime script has already set the same state now",),
    guard=True,
)


def _netplan(family: str, default: str) -> FamilySpec:
    # gateway4 cannot name a table: it would add the second default route to main that
    # the ENI must not have, so both styles put the default into the ENI's table. They
    # differ in the `default` keyword, which netplan before 0.103 (Ubuntu 18/20) lacks.
    head = (
        "network:\n  version: 2\n  ethernets:\n    @dev@:\n      match:\n"
        '        macaddress: "@mac@"\n      set-name: @dev@\n      dhcp4: false\n'
        "      dhcp6: false\n      addresses:\n"
    )
    routes = (
        "      routes:\n        - to: @cidr@\n          scope: link\n          from: @primary@\n"
        f"          table: @table@\n        - to: {default}\n          via: @gw@\n"
        "          table: @table@\n      routing-policy:\n"
    )
    return FamilySpec(
        family,
        files=(FileSpec("@root@/etc/netplan/60-failover-@dev@.yaml", (
            Seg(MARKER), Seg(head), Seg("        - @ip@/@prefix@\n", PER_IP), Seg(routes),
            Seg("        - from: @ip@\n          table: @table@\n          priority: @prio@\n", PER_IP),
        ), mode="600"),),
        notes=("applies on the next `netplan apply` or reboot; nothing is restarted now",),
        guard=True,
    )


_SCRIPTS = "@root@/etc/sysconfig/network-scripts"
RHEL = FamilySpec(
    "rhel",
    files=(
        FileSpec(f"{_SCRIPTS}/ifcfg-@dev@", (Seg(
            MARKER + "DEVICE=@dev@\nHWADDR=@mac@\nTYPE=Ethernet\nBOOTPROTO=static\nONBOOT=yes\n"
            "DEFROUTE=no\nPEERDNS=no\nIPADDR=@primary@\nNETMASK=@mask@\n"
        ),)),
        FileSpec(f"{_SCRIPTS}/ifcfg-@dev@:@j@", (Seg(
            MARKER + "DEVICE=@dev@:@j@\nTYPE=Ethernet\nBOOTPROTO=static\nONBOOT=yes\n"
            "IPADDR=@ip@\nNETMASK=@mask@\n"
        ),), each=PER_SECONDARY),
        FileSpec(f"{_SCRIPTS}/route-@dev@", (Seg(MARKER + TABLE_ROUTES),)),
        FileSpec(f"{_SCRIPTS}/rule-@dev@", (Seg(MARKER), Seg(RULE, PER_IP))),
    ),
    sweep=(f"{_SCRIPTS}/ifcfg-@dev@:*",),
)

_IFACES = "@root@/etc/network/interfaces"
DEBIAN = FamilySpec(
    "debian",
    files=(FileSpec(f"{_IFACES}.d/failover-@dev@.cfg", (
        Seg(MARKER + "auto @dev@\niface @dev@ inet static\n    address @primary@\n    netmask @mask@\n"
            "    post-up ip route replace @cidr@ dev @dev@ src @primary@ table @table@\n"
            "    post-up ip route replace default via @gw@ dev @dev@ table @table@\n"),
        Seg("    post-up ip rule del from @ip@ table @table@ 2>/dev/null; "
            "ip rule add from @ip@ table @table@ priority @prio@\n", PER_IP),
        Seg("\nauto @dev@:@j@\niface @dev@:@j@ inet static\n    address @ip@\n    netmask @mask@\n",
            PER_SECONDARY),
    )),),
    # `source-directory` skips names with a dot; `source .../*` and `.../*.cfg` include ours
    commands=(
        "grep -Eqs '^[[:space:]]*source[[:space:]]+/etc/network/interfaces[.]d/"
        "(failover-)?[*]([.]cfg)?[[:space:]]*$' "
        f'"{_IFACES}" || {{ cp -p "{_IFACES}" "{_IFACES}.failover-bak" && '
        f"echo 'source /etc/network/interfaces.d/failover-*.cfg' >> \"{_IFACES}\"; }}",
    ),
    notes=("/etc/network/interfaces must source the file: the command appends a `source` line "
           "(after a backup) unless one already includes /etc/network/interfaces.d/*",),
)

_NETWORK = "@root@/etc/sysconfig/network"
SUSE = FamilySpec(
    "suse",
    files=(
        FileSpec(f"{_NETWORK}/ifcfg-@dev@", (
            Seg(MARKER + "BOOTPROTO='static'\nSTARTMODE='auto'\nUSERCONTROL='no'\n"),
            Seg("IPADDR_@k@='@ip@'\nNETMASK_@k@='@mask@'\nLABEL_@k@='@j@'\n", PER_IP),
        )),
        FileSpec(f"{_NETWORK}/ifroute-@dev@", (Seg(
            MARKER + "@cidr@ - - @dev@ table @table@\ndefault @gw@ - @dev@ table @table@\n"
        ),)),
        FileSpec(f"{_NETWORK}/ifrule-@dev@", (Seg(MARKER), Seg(RULE, PER_IP))),
    ),
)

SPECS: dict[str, FamilySpec] = {
    s.family: s for s in (
        NMCLI, _netplan("netplan", "default"), _netplan("netplan-legacy", "0.0.0.0/0"),
        RHEL, DEBIAN, SUSE,
    )
}


def render_persistent(family: str, network: GuestNetwork, *, dev: str | None = None) -> Persistent:
    """The files and commands for `family`; `network` must have passed check_network.

    Without a device name the files name `${DEV}`: the script finds it by MAC.
    """
    spec = SPECS.get(family)
    if spec is None:
        raise ValueError(f"no persistent config for family {family!r}")
    values = scalars(network, dev or network.device or "${DEV}", "", RULE_PRIORITY)
    values |= expand_lists(spec, network, values)
    files: list[ConfigFile] = []
    for fs in spec.files:
        for it in items(network, fs.each) if fs.each == PER_SECONDARY else [{}]:
            v = values | it
            files.append(ConfigFile(fill(fs.path, v), expand_segs(fs.segs, network, v), fs.mode))
    notes = spec.notes
    if spec.guard:
        files.append(ConfigFile(CLOUD_INIT_GUARD, GUARD_CONTENT))
        notes += (f"{CLOUD_INIT_GUARD} is written only where cloud-init is installed (/etc/cloud "
                  "exists), so cloud-init does not overwrite this configuration on reboot",)
    return Persistent(family, tuple(files), tuple(fill(c, values) for c in spec.commands), notes)
