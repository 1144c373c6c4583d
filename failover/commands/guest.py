"""`failover guest render`: the OS network configuration a standby would get, for runbooks."""

from __future__ import annotations

import json

import click

from failover.commands.context import CliState
from failover.guest import FAMILIES, GuestInputError, ScriptTooLarge, render_bundle
from failover.guest.prestage import render_stage
from failover.model import GuestNetwork

_OPTION = {"os": "--os", "mac": "--mac", "ips": "--ips", "cidr": "--cidr", "gateway": "--gateway",
           "device": "--device", "table": "--table"}


def _label(field: str) -> str:
    return _OPTION.get(field, field)


@click.group()
def guest() -> None:
    """Guest OS network configuration (the script Cloud Assistant runs on a standby)."""


@guest.command()
@click.option("--os", "family", required=True, metavar="FAMILY", help=f"One of: {', '.join(FAMILIES)}.")
@click.option("--mac", required=True, help="The ENI's MAC address.")
@click.option("--ips", required=True, metavar="IP,...", help="The ENI's private IPs, primary first.")
@click.option("--cidr", required=True, help="The vSwitch CIDR, e.g. 192.168.1.0/24.")
@click.option("--gateway", required=True, help="The vSwitch gateway.")
@click.option("--device", default=None, help="Interface name (default: found by MAC at runtime).")
@click.option("--table", default="1001", show_default=True, help="Policy routing table id.")
@click.option("--release", is_flag=True, help="Print the release script for a returning old holder.")
@click.option("--prestaged", is_flag=True,
              help="Print what `failover provision` pre-stages on a standby (guest.prestage): the "
                   "scripts, the udev rule and the systemd unit keyed by the MAC, and their version.")
@click.option("--stop-notice", "stop_notice", multiple=True, metavar="HOST:PORT",
              help="With --prestaged: a replica the unit's stop hook tells of a graceful stop "
                   "(guest.stop_notice; repeat for each).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def render(
    ctx: click.Context, family: str, mac: str, ips: str, cidr: str, gateway: str,
    device: str | None, table: str, release: bool, prestaged: bool, stop_notice: tuple[str, ...],
    as_json: bool,
) -> None:
    """Print the runtime script and the persistent files for one OS family."""
    try:
        try:
            table_id = int(table)
        except ValueError:
            raise GuestInputError("--table", f"{table!r} is not a number") from None
        network = GuestNetwork(
            mac=mac, ips=tuple(ip for ip in ips.split(",") if ip.strip()), cidr=cidr,
            gateway=gateway, device=device, table=table_id,
        )
        if prestaged and release:
            raise GuestInputError("--prestaged", "the pre-staged files include the release script: "
                                  "give --prestaged or --release, not both")
        if stop_notice and not prestaged:
            raise GuestInputError("--stop-notice", "the stop notice is part of the pre-staged "
                                  "configuration: give --prestaged too")
        for to in stop_notice:
            host, _, port = to.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise GuestInputError("--stop-notice", f"{to!r} is not host:port")
        bundle = (render_stage(family, network, label=_label, notify=stop_notice) if prestaged
                  else render_bundle(family, network, release=release, label=_label))
    except (GuestInputError, ScriptTooLarge) as e:
        click.echo(f"error: {e}", err=True)
        raise SystemExit(2) from None
    obj = ctx.find_object(CliState)
    if as_json or (obj is not None and obj.json):
        click.echo(json.dumps(bundle.to_dict(), indent=2))
    else:
        click.echo(bundle.to_text(), nl=False)
