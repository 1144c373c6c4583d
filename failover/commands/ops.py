"""Operator commands that read or nudge the journal: history, ack, journal (status: status.py)."""

from __future__ import annotations

import time
from typing import Any

import click

from failover.commands.common import emit_json, fail, is_tty, known_group, open_client
from failover.commands.context import complete_group, config_option, state


def history_rows(records: list[Any]) -> list[dict[str, Any]]:
    return [r.to_dict() for r in records]


@click.command()
@config_option
@click.argument("group", required=False, shell_complete=complete_group)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.pass_context
def history(ctx: click.Context, group: str | None, limit: int) -> None:
    """Past failovers from the journal, with step timings."""
    st = state(ctx)
    cfg = st.load_config()
    if group is not None:
        known_group(cfg, group)
    with open_client(st, cfg) as c:
        records = c.coordination.journal.history(group, limit)
    if st.json:
        emit_json(history_rows(records))
        return
    if not records:
        click.echo("no failovers recorded")
    for r in records:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.started_at))
        dur = f"{r.duration_s:.2f} s" if r.duration_s is not None else "-"
        click.echo(f"{when}  {r.id}  {r.group}: {r.from_instance} -> {r.to_instance}  "
                   f"{r.trigger.value}  {r.result.value}  {dur}")
        for s in r.steps:
            d = f"{s.duration_s:.3f} s" if s.duration_s is not None else "..."
            ids = f"  [{', '.join(s.request_ids)}]" if s.request_ids else ""
            err = f"  error: {s.error}" if s.error else ""
            how = f"  ({s.detail})" if s.detail else ""
            click.echo(f"    {s.name.value:<7} {s.status:<8} {d:>9}{how}{ids}{err}")


@click.command()
@config_option
@click.argument("group", shell_complete=complete_group)
@click.pass_context
def ack(ctx: click.Context, group: str) -> None:
    """Clear a group blocked by flapping."""
    st = state(ctx)
    cfg = st.load_config()
    known_group(cfg, group)
    with open_client(st, cfg) as c:
        cleared = c.coordination.journal.ack(group)
    click.echo(f"group {group}: " + ("unblocked; automatic failover is armed again" if cleared
                                     else "was not blocked; nothing changed"))


@click.group()
def journal() -> None:
    """Show, or after confirmation clear, a stuck or corrupt journal."""


@journal.command()
@config_option
@click.pass_context
def inspect(ctx: click.Context) -> None:
    """Every journal znode, decoded or marked corrupt."""
    st = state(ctx)
    with open_client(st) as c:
        entries = c.inspect_journal()
    if st.json:
        emit_json([e.to_dict() for e in entries])
        return
    for e in entries:
        flag = "ok     " if e.ok else "CORRUPT"
        run = " running" if e.running else ""
        click.echo(f"{flag} {e.kind:<7} {e.path}{run}" + (f"  ({e.error})" if e.error else ""))
    bad = sum(1 for e in entries if not e.ok)
    click.echo(f"{len(entries)} entries, {bad} corrupt" + ("; `failover journal reset ID` removes one"
                                                         if bad else ""))


@journal.command()
@config_option
@click.argument("failover_id", required=False)
@click.option("--all", "everything", is_flag=True, help="Clear every failover record.")
@click.option("--groups", is_flag=True, help="Also forget group state (holders, cooldowns, blocks).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def reset(ctx: click.Context, failover_id: str | None, everything: bool, groups: bool, yes: bool) -> None:
    """Remove one failover record (or --all); the next leader re-reads the cloud."""
    st = state(ctx)
    if bool(failover_id) == everything:
        fail("give a FAILOVER_ID or --all (not both)", 2)
    what = f"failover {failover_id}" if failover_id else "the whole journal" + (" and group state"
                                                                                 if groups else "")
    if not yes:
        if not is_tty():
            fail("--yes is required when not on a terminal", 2)
        click.confirm(f"Remove {what}?", abort=True)
    with open_client(st) as c:
        count = c.reset_journal(failover_id, groups=groups)
    click.echo(f"removed {what}: {count} znodes")
