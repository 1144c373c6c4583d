"""`failover provision [GROUP] [--dry-run] [--yes] [--restage]`: make the cloud match the config.

Assigns missing service IPs to each group's ENI and associates missing EIPs
(NAT mode); with `guest.prestage`, installs the pre-staged guest configuration
on every member whose tag does not show the current version (`engine/staging.py`);
prints what it will not touch with the exact manual step. Moves nothing. Reads
through the cloud adapter only: no ZooKeeper session, no leader involved.
"""

from __future__ import annotations

from typing import Any

import click

from failover import app
from failover.commands.common import emit_json, fail, is_tty, known_group, open_cloud, where
from failover.commands.context import complete_group, config_option, state
from failover.engine import provision as prov
from failover.engine import staging
from failover.engine.readiness import read_eni
from failover.model import CloudError


@click.command()
@config_option
@click.argument("group", required=False, shell_complete=complete_group)
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--restage", is_flag=True,
              help="Send the pre-staged guest configuration to every running member whatever its "
                   "tag says (a re-imaged instance keeps its tags); the guest skips what it has.")
@click.pass_context
def provision(ctx: click.Context, group: str | None, dry_run: bool, yes: bool, restage: bool) -> None:
    """Assign missing service IPs, associate missing EIPs, pre-stage the guest configuration
    (guest.prestage); exit 1 if anything is left."""
    st = state(ctx)
    cfg = st.load_config()
    if group is not None:
        known_group(cfg, group)
    if not dry_run and not yes and not is_tty():
        fail("--yes is required when not on a terminal (or use --dry-run)", 2)
    cloud = open_cloud(cfg)
    try:
        plans = [prov.plan(i, g, cfg.cloud.region,
                           prov.read_facts(cloud, cloud, g, read_eni(cloud, g.network_interface),
                                           app.guest_stager()),
                           restage=restage)
                 for i, g in enumerate(cfg.groups) if group in (None, g.name)]
    except CloudError as e:
        fail(f"cannot read the cloud ({where(cfg)}): {e}")
        return
    changes = any(p.changes for p in plans)
    if not st.json:
        _print_plans(plans)
    applied: list[list[prov.Outcome]] = [[] for _ in plans]
    if changes and not dry_run:
        if not yes:
            click.confirm("Apply these changes?", abort=True)
        applied = [prov.apply(p, cloud) + _stage(p, cloud) for p in plans]
    failed = any(not o.ok for outs in applied for o in outs)
    left = any(p.blocked for p in plans)
    if st.json:
        emit_json(_document(plans, applied, dry_run, not failed and not left))
    else:
        _print_outcomes(plans, applied, dry_run, changes, left)
    raise SystemExit(1 if failed or (left and not dry_run) else 0)


def _stage(p: prov.Plan, cloud: app.CommandCloud) -> list[prov.Outcome]:
    if p.stage_plan is None:
        return []
    return [prov.Outcome(o.action, o.ok, o.detail) for o in staging.apply(p.stage_plan, cloud, cloud)]


def _print_plans(plans: list[prov.Plan]) -> None:
    for p in plans:
        click.echo(f"{p.group} ({p.eni_id}):")
        for a in p.assign:
            click.echo(f"  + {a.describe()}")
        for e in p.associate:
            click.echo(f"  + {e.describe()}")
        for s in p.stages:
            click.echo(f"  + {s.describe()}")
        if p.stage_plan is not None:
            for f in p.stage_plan.waiting:
                click.echo(f"  ! {f.path}: {f.message}")
        for m in p.manual:
            click.echo(f"  ! will not touch {m.path}: {m.describe()}")
        if not p.changes and not p.manual:
            click.echo("  = matches the config")


def _print_outcomes(plans: list[prov.Plan], applied: list[list[prov.Outcome]], dry_run: bool,
                    changes: bool, left: bool) -> None:
    for outs in applied:
        for o in outs:
            detail = f" ({o.detail})" if o.detail else ""
            click.echo(f"{'done' if o.ok else 'FAILED'}: {o.action}{detail}")
    if dry_run:
        click.echo("dry run: nothing changed")
    elif not changes:
        click.echo("nothing to do")
    if left:
        n = sum(1 for p in plans for m in p.manual if m.blocking)
        click.echo(f"the cloud still differs from the config: {n} manual step(s) above", err=True)


def _document(plans: list[prov.Plan], applied: list[list[prov.Outcome]], dry_run: bool,
              ok: bool) -> dict[str, Any]:
    return {
        "dry_run": dry_run,
        "ok": ok,
        "groups": [{
            "group": p.group, "eni": p.eni_id,
            "changes": [a.describe() for a in p.assign] + [e.describe() for e in p.associate]
            + [s.describe() for s in p.stages],
            "prestaged_version": p.stage_plan.stage.version
            if p.stage_plan is not None and p.stage_plan.stage is not None else None,
            "manual": [{"path": m.path, "what": m.what, "step": m.step, "blocking": m.blocking}
                       for m in p.manual],
            "applied": [{"action": o.action, "ok": o.ok, "detail": o.detail} for o in outs],
        } for p, outs in zip(plans, applied, strict=True)],
    }
