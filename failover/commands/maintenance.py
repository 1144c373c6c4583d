"""`failover pause GROUP|--all` and `failover resume GROUP|--all`: maintenance mode.

A paused group gets no automatic failover (its primary may go down for maintenance); drills
still run, and a failover already under way finishes. The flag lives in ZooKeeper
(coordination/pauses.py), so every replica and every future leader sees it.
"""

from __future__ import annotations

import getpass
import socket

import click

from failover.commands.common import fail, known_group, open_client
from failover.commands.context import complete_group, config_option, state
from failover.config import Config


def _targets(ctx: click.Context, group: str | None, everything: bool) -> tuple[list[str], Config]:
    st = state(ctx)
    if bool(group) == everything:
        fail("give a GROUP or --all (not both)", 2)
    cfg = st.load_config()
    if group is not None:
        known_group(cfg, group)
        return [group], cfg
    return [g.name for g in cfg.groups], cfg


@click.command()
@config_option
@click.argument("group", required=False, shell_complete=complete_group)
@click.option("--all", "everything", is_flag=True, help="Every group of the configuration.")
@click.pass_context
def pause(ctx: click.Context, group: str | None, everything: bool) -> None:
    """Stop automatic failover of a group (maintenance); drills still work."""
    names, cfg = _targets(ctx, group, everything)
    by = f"{getpass.getuser()}@{socket.gethostname()}"
    with open_client(state(ctx), cfg) as c:
        for name in names:
            done = c.coordination.pauses.pause(name, by)
            click.echo(f"group {name}: " + ("paused; no automatic failover until `failover resume "
                                            f"{name}`" if done else "was already paused"))


@click.command()
@config_option
@click.argument("group", required=False, shell_complete=complete_group)
@click.option("--all", "everything", is_flag=True, help="Every group of the configuration.")
@click.pass_context
def resume(ctx: click.Context, group: str | None, everything: bool) -> None:
    """Arm automatic failover of a paused group again."""
    names, cfg = _targets(ctx, group, everything)
    with open_client(state(ctx), cfg) as c:
        if everything:  # also a pause left on a group since removed from the configuration
            names = sorted(set(names) | set(c.coordination.pauses.paused()))
        for name in names:
            done = c.coordination.pauses.resume(name)
            click.echo(f"group {name}: " + ("resumed; automatic failover is armed" if done
                                            else "was not paused; nothing changed"))
