"""Persistent network configuration per Linux family, so a reboot keeps the ENI working.

Every family gets the routing the runtime script builds with iproute2: no
route via the ENI in the main table, and the ENI's own table (the subnet, and
the default via the vSwitch gateway) chosen by `from <ip>` rules. The primary
NIC's connected route (metric 100 on cloud images) must keep the subnet in
`main`: a main-table route via the ENI would carry the primary IP's same-subnet
traffic out of the ENI (dropped by the VPC's source/destination check) and make
its inbound packets fail strict rp_filter. The runtime script adds its
addresses with `noprefixroute`; not every family's tool has that knob, so the
files give the ENI's addresses a host (/32) prefix, which no tool turns into a
subnet route, and the subnet lives in the ENI's table only.

Devices are matched by MAC where the family can (NetworkManager, netplan,
ifcfg-rh's HWADDR); ifupdown and SUSE match by name, so their files use the
hot-plug start modes (`allow-hotplug`, `STARTMODE='hotplug'`): an image built
from a former holder boots without the ENI and without a failed network unit.
The specs are templates (see `templates.py`); `render_persistent` expands them
for one network.
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
# cloud-init renders the network again only for a new instance (its default event), never on
# a hot-plug: the ENI's config stays ours, while an image built from a holder still gets its
# own primary NIC rendered when it boots as a new instance. (Disabling cloud-init's network
# config instead froze the first instance's primary MAC into the image.) The user control
# over update events is cloud-init's `updates` key (canonical/cloud-init#834, 21.3).
CLOUD_INIT_GUARD = "/etc/cloud/cloud.cfg.d/99-failover-network-events.cfg"
GUARD_CONTENT = "updates:\n  network:\n    when: [boot-new-instance]\n"
MARKER = "# failover: ENI @mac@ (generated; an original is kept as FILE.failover-bak)\n"
TABLE_ROUTES = (
    "@cidr@ dev @dev@ src @primary@ table @table@\n"
    "default via @gw@ dev @dev@ table @table@\n"
)
RULE = "from @ip@ table @table@ priority @prio@\n"
HOST_MASK = "255.255.255.255"  # see the module docstring: no subnet route in main


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
    "connection.autoconnect yes connection.autoconnect-priority 100 "
    "802-3-ethernet.mac-address @mac@ ipv4.method manual "
    'ipv4.addresses "@addrs@" ipv4.never-default yes '
    'ipv4.routes "@cidr@ table=@table@ src=@primary@, 0.0.0.0/0 @gw@ table=@table@ onlink=true" '
    'ipv4.routing-rules "@rules@" ipv6.method ignore'
)
NMCLI = FamilySpec(
    "nmcli",
    lists=(
        ListSpec("addrs", "@ip@/32", ","),
        ListSpec("rules", "priority @prio@ from @ip@ table @table@", ", "),
    ),
    # modify, never delete+add: deleting an active profile would tear the live addresses down
    commands=(
        'if nmcli -g NAME connection show | grep -qxF "failover-@dev@"; then '
        f'nmcli connection modify "failover-@dev@" {_NM_SETTINGS}; else '
        f'nmcli connection add type ethernet con-name "failover-@dev@" ifname "@dev@" {_NM_SETTINGS}; fi',
        # NM's automatic DHCP profile takes a hot-plugged NIC; activating ours takes it back
        # (its DHCP could otherwise re-add routes via the ENI to main at any renewal)
        'nmcli --wait 15 connection up "failover-@dev@" >/dev/null',
    ),
    notes=("NetworkManager stores the profile (keyfile or ifcfg-rh) and applies it on boot; "
           "it is activated now, so NetworkManager's automatic DHCP profile leaves the ENI",),
    guard=True,
)


def _netplan(family: str, default: str) -> FamilySpec:
    # gateway4 cannot name a table: it would add the second default route to main that
    # the ENI must not have, so both styles put the default into the ENI's table. They
    # differ in the `default` keyword, which netplan before 0.103 (Ubuntu 18/20) lacks.
    # on-link: with /32 addresses only the ENI's table reaches the gateway, whatever order
    # networkd adds the routes in.
    head = (
        "network:\n  version: 2\n  ethernets:\n    @dev@:\n      match:\n"
        '        macaddress: "@mac@"\n      set-name: @dev@\n      optional: true\n'
        "      dhcp4: false\n      dhcp6: false\n      addresses:\n"
    )
    routes = (
        "      routes:\n        - to: @cidr@\n          scope: link\n          from: @primary@\n"
        f"          table: @table@\n        - to: {default}\n          via: @gw@\n"
        "          on-link: true\n          table: @table@\n      routing-policy:\n"
    )
    return FamilySpec(
        family,
        files=(FileSpec("@root@/etc/netplan/60-failover-@dev@.yaml", (
            Seg(MARKER), Seg(head), Seg("        - @ip@/32\n", PER_IP), Seg(routes),
            Seg("        - from: @ip@\n          table: @table@\n          priority: @prio@\n", PER_IP),
        ), mode="600"),),
        # networkd >= 248 deletes routing-policy rules it did not configure whenever it starts
        # (ManageForeignRoutingPolicyRules): generating now puts ours in its config at once
        commands=('netplan generate --root-dir "@root@/"',),
        notes=("`netplan generate` runs now, so a systemd-networkd restart keeps the rules (networkd "
               ">= 248 removes rules it did not configure); nothing is applied or restarted now",),
        guard=True,
    )


_SCRIPTS = "@root@/etc/sysconfig/network-scripts"
RHEL = FamilySpec(
    "rhel",
    files=(
        FileSpec(f"{_SCRIPTS}/ifcfg-@dev@", (Seg(
            MARKER + "DEVICE=@dev@\nHWADDR=@mac@\nTYPE=Ethernet\nBOOTPROTO=static\nONBOOT=yes\n"
            f"DEFROUTE=no\nPEERDNS=no\nIPADDR=@primary@\nNETMASK={HOST_MASK}\n"
        ),)),
        FileSpec(f"{_SCRIPTS}/ifcfg-@dev@:@j@", (Seg(
            MARKER + "DEVICE=@dev@:@j@\nTYPE=Ethernet\nBOOTPROTO=static\nONBOOT=yes\n"
            f"IPADDR=@ip@\nNETMASK={HOST_MASK}\n"
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
        # allow-hotplug, not auto: a boot without the ENI does not fail networking.service;
        # secondaries by `ip` in the one stanza (an alias stanza never sees a hot-plug event)
        Seg(MARKER + "allow-hotplug @dev@\niface @dev@ inet static\n    address @primary@\n"
            f"    netmask {HOST_MASK}\n"),
        Seg("    post-up ip addr replace @ip@/32 dev @dev@\n", PER_SECONDARY),
        Seg("    post-up ip route replace @cidr@ dev @dev@ src @primary@ table @table@\n"
            "    post-up ip route replace default via @gw@ dev @dev@ table @table@\n"),
        Seg("    post-up ip rule del from @ip@ table @table@ 2>/dev/null; "
            "ip rule add from @ip@ table @table@ priority @prio@\n", PER_IP),
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
            Seg(MARKER + "BOOTPROTO='static'\nSTARTMODE='hotplug'\nUSERCONTROL='no'\n"),
            Seg(f"IPADDR_@k@='@ip@'\nNETMASK_@k@='{HOST_MASK}'\nLABEL_@k@='@j@'\n", PER_IP),
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
                  "exists): cloud-init re-renders the network only for a new instance, not on "
                  "hot-plug, so it leaves this configuration alone and an image still boots",)
    return Persistent(family, tuple(files), tuple(fill(c, values) for c in spec.commands), notes)
