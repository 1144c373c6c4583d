"""`failover validate [--live]`: the configuration, offline (and against the cloud)."""

from __future__ import annotations

import json
import os

import click

from failover import config as config_mod
from failover.cli import CliState, config_option, state
from failover.config import Config
from failover.engine import provision
from failover.engine.readiness import Finding, group_findings, read_facts
from failover.guest.prestage import Stager
from failover.model import CloudError
from failover.ports import CloudPort, InstanceTypes, Provisioning


@click.command()
@config_option
@click.option("--live", is_flag=True, help="Also compare the config with the cloud.")
@click.option("--skip-env", is_flag=True,
              help="Do not check the environment variables the config names (e.g. on a build host).")
@click.pass_context
def validate(ctx: click.Context, live: bool, skip_env: bool) -> None:
    """Check the configuration; exit 2 with one line per problem."""
    st = state(ctx)
    if st.json:
        _json_errors_or_config(st, skip_env)  # --json always prints a document, also for a bad file
    cfg = st.load_config()
    problems = [] if skip_env else config_mod.environment_problems(cfg, os.environ)
    for line in problems:
        click.echo(f"error: {line}", err=True)
    if problems:
        raise SystemExit(2)
    if live:
        _live(cfg, st.json)
    if st.json:
        click.echo(json.dumps({"ok": True, "groups": len(cfg.groups), "instances": len(cfg.instances)}))
    else:
        click.echo(f"ok: {len(cfg.groups)} groups, {len(cfg.instances)} instances")


def _json_errors_or_config(st: CliState, skip_env: bool) -> None:
    """For --json: a bad config (or environment) is printed as {"ok": false, "errors": [...]}
    on stdout and exits 2; a good one returns to the normal path."""
    errors: list[str]
    if not st.config_given and not st.config_path.exists():
        errors = [f"--config: {config_mod.not_found_message()}"]
    else:
        try:
            cfg = config_mod.load(st.config_path)
        except config_mod.ConfigError as e:
            errors = e.problems
        else:
            errors = [] if skip_env else config_mod.environment_problems(cfg, os.environ)
    if errors:
        click.echo(json.dumps({"ok": False, "errors": [
            {"path": line.split(": ", 1)[0], "message": line.split(": ", 1)[-1]} for line in errors]}))
        raise SystemExit(2)


def live_findings(cfg: Config, cloud: CloudPort, types: InstanceTypes,
                  prov: Provisioning) -> list[Finding]:
    """Every difference between the config and the cloud that a failover or an operator would meet."""
    facts = read_facts(cloud, types, cfg.groups)
    out: list[Finding] = []
    for i, g in enumerate(cfg.groups):
        f = facts[g.name]
        if f.eni is None:
            out += group_findings(i, g, f)
            continue
        plan = provision.plan(i, g, cfg.cloud.region,
                              provision.read_facts(cloud, prov, g, f.eni, Stager()))
        # The IP count a standby must take is the one after provisioning.
        out += group_findings(i, g, f, len(f.eni.private_ips) + len(plan.assign))
        out += plan.findings()
    return out


def _live(cfg: Config, as_json: bool) -> None:
    """Prints the findings; exits 2 on any error, 1 when the cloud cannot be read."""
    from failover.commands.provision import open_cloud, where

    cloud = open_cloud(cfg)
    try:
        findings = live_findings(cfg, cloud, cloud, cloud)
    except CloudError as e:
        click.echo(f"error: cannot compare the config with the cloud ({where(cfg)}): {e}", err=True)
        raise SystemExit(1) from None
    errors = [f for f in findings if f.error]
    if as_json:
        click.echo(json.dumps({
            "ok": not errors, "groups": len(cfg.groups), "instances": len(cfg.instances),
            "findings": [{"path": f.path, "message": f.message,
                          "severity": "error" if f.error else "warning"} for f in findings],
        }))
    else:
        for f in findings:
            click.echo(f.line(), err=True)
        if not errors:
            n = len(findings)
            click.echo(f"ok: {len(cfg.groups)} groups, {len(cfg.instances)} instances; "
                       f"the cloud matches the config ({n} warning{'' if n == 1 else 's'})")
    raise SystemExit(2 if errors else 0)
