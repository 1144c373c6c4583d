"""`failover validate [--live]`: the configuration, offline (and against the cloud)."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import click

from failover import app
from failover import config as config_mod
from failover.commands.common import fail
from failover.commands.context import CliState, config_option, state
from failover.config import Config
from failover.engine import provision, ram_tags
from failover.engine.readiness import Finding, group_findings, read_facts
from failover.model import CloudError
from failover.ports import CloudPort, InstanceTypes, Provisioning, ResourceTags


@click.command()
@config_option
@click.option("--live", is_flag=True, help="Also compare the config with the cloud.")
@click.option("--ram-policy", type=click.Path(dir_okay=False, path_type=Path),
              help="With --live: the RAM policy you attached, for its tag conditions "
                   "(default: the shipped deploy/ram-policy.json).")
@click.option("--skip-env", is_flag=True,
              help="Do not check the environment variables the config names (e.g. on a build host).")
@click.pass_context
def validate(ctx: click.Context, live: bool, ram_policy: Path | None, skip_env: bool) -> None:
    """Check the configuration; exit 2 with one line per problem."""
    st = state(ctx)
    if ram_policy is not None and not live:
        fail("--ram-policy: only with --live (it checks the cloud's tags)", 2)
    if st.json:
        _json_errors_or_config(st, skip_env)  # --json always prints a document, also for a bad file
    cfg = st.load_config()
    problems = [] if skip_env else config_mod.environment_problems(cfg, os.environ)
    for line in problems:
        click.echo(f"error: {line}", err=True)
    if problems:
        raise SystemExit(2)
    if live:
        _live(cfg, st.json, ram_policy)
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
                              provision.read_facts(cloud, prov, g, f.eni, app.guest_stager()))
        # The IP count a standby must take is the one after provisioning.
        out += group_findings(i, g, f, len(f.eni.private_ips) + len(plan.assign))
        out += plan.findings()
    return out


def load_ram_policy(path: Path | None) -> dict[str, Any]:
    """The RAM policy document: the given file, or the one the package ships (one source:
    deploy/ram-policy.json is a link to it). A bad file is exit 2 naming --ram-policy."""
    try:
        text = (path.read_text() if path is not None
                else resources.files("failover.cloud").joinpath("ram-policy.json").read_text())
        doc = json.loads(text)
    except (OSError, ValueError) as e:
        click.echo(f"error: --ram-policy: {path}: {e}", err=True)
        raise SystemExit(2) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("Statement"), list):
        click.echo(f"error: --ram-policy: {path}: not a RAM policy (no Statement list)", err=True)
        raise SystemExit(2)
    return doc


def policy_tag_findings(cfg: Config, tags: ResourceTags, policy: dict[str, Any]) -> list[Finding]:
    """The tags the RAM policy's conditions require, on every ENI, instance and EIP the config names."""
    rules = ram_tags.tag_rules(policy)
    kinds = {r.kind for r in rules}
    seen = {kind: tags.resource_tags(kind, list(ids))
            for kind, ids in ram_tags.named_resources(cfg).items() if ids and kind in kinds}
    return ram_tags.tag_findings(cfg, rules, seen)


def _live(cfg: Config, as_json: bool, ram_policy: Path | None) -> None:
    """Prints the findings; exits 2 on any error, 1 when the cloud cannot be read."""
    from failover.commands.common import open_cloud, where

    policy = load_ram_policy(ram_policy)
    cloud = open_cloud(cfg)
    try:
        findings = live_findings(cfg, cloud, cloud, cloud)
        findings += policy_tag_findings(cfg, cloud, policy)
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
