"""What the commands share with the root group: the global options' state, the option
decorators and parameter types. The root group (cli.py) builds the state; commands read it here,
so no command imports cli.py (an import-linter contract)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import click

from failover import config as config_mod


class SafePath(click.Path):
    """click.Path, but a name the OS cannot take (a NUL byte) is a usage error (exit 2), not a
    traceback: click lets os.stat's ValueError through (found by fuzzing the CLI)."""

    def convert(self, value: str | os.PathLike[str], param: click.Parameter | None,
                ctx: click.Context | None) -> str | bytes | os.PathLike[str]:
        try:
            return super().convert(value, param, ctx)
        except ValueError as e:
            if isinstance(e, click.BadParameter):
                raise
            self.fail(f"{value!r} is not a usable file name", param, ctx)


@dataclass
class CliState:
    config_path: Path
    json: bool
    log_level: str
    config_given: bool = True  # False: found by the default search (an error names every place)

    def load_config(self) -> config_mod.Config:
        """Loads the config or exits 2 with one line per problem."""
        if not self.config_given and not self.config_path.exists():
            click.echo(f"error: --config: {config_mod.not_found_message()}", err=True)
            raise SystemExit(2)
        try:
            cfg = config_mod.load(self.config_path)
        except config_mod.ConfigError as e:
            for line in e.problems:
                click.echo(f"error: {line}", err=True)
            raise SystemExit(2) from None
        for line in config_mod.warnings(cfg):
            click.echo(f"warning: {line}", err=True)
        return cfg


def state(ctx: click.Context) -> CliState:
    """The global options, also when a subcommand repeats --config or --json."""
    obj = ctx.find_object(CliState)
    assert obj is not None
    return obj


def complete_group(ctx: click.Context, _p: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of GROUP from the config the command line names (or the default one);
    nothing when it cannot be read: completion never prints an error."""
    given = ctx.find_root().params.get("config_path") or ctx.params.get("config")
    try:
        cfg = config_mod.load(given or config_mod.default_path())
    except (config_mod.ConfigError, OSError):
        return []
    return [g.name for g in cfg.groups if g.name.startswith(incomplete)]


def config_option(f: click.decorators.FC) -> click.decorators.FC:
    """`--config` and `--json` accepted after the subcommand too, as operators type them."""

    def set_config(ctx: click.Context, _p: click.Parameter, value: Path | None) -> None:
        if value is not None:
            state(ctx).config_path = value
            state(ctx).config_given = True

    def set_json(ctx: click.Context, _p: click.Parameter, value: bool) -> None:
        if value:
            state(ctx).json = True

    f = click.option(
        "--config", type=SafePath(dir_okay=False, path_type=Path), expose_value=False,
        callback=set_config, help="Configuration file.",
    )(f)
    return click.option(
        "--json", is_flag=True, expose_value=False, callback=set_json, help="Print JSON."
    )(f)
