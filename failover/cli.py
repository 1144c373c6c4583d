"""The `failover` command: the top floor, nothing imports it.

Commands load lazily (`LazyGroup`) so `failover validate` does not pay for
importing kazoo and the cloud SDK. Each family lives in `failover/commands/`.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

import click

from failover import __version__, logs
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


# name -> "module:attribute" of a click command
COMMANDS: dict[str, str] = {
    "validate": "failover.commands.validate:validate",
    "run": "failover.commands.run:run",
    "status": "failover.commands.ops:status",
    "drill": "failover.commands.drill:drill",
    "history": "failover.commands.ops:history",
    "ack": "failover.commands.ops:ack",
    "journal": "failover.commands.ops:journal",
    "provision": "failover.commands.provision:provision",
    "guest": "failover.commands.guest:guest",
    "sim": "failover.commands.sim:sim",
    "lab": "failover.commands.lab:lab",
    "demo": "failover.commands.demo:demo",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        cmd = getattr(importlib.import_module(module), attr)
        assert isinstance(cmd, click.Command)
        return cmd


@dataclass
class CliState:
    config_path: Path
    json: bool
    log_level: str

    def load_config(self) -> config_mod.Config:
        """Loads the config or exits 2 with one line per problem."""
        try:
            cfg = config_mod.load(self.config_path)
        except config_mod.ConfigError as e:
            for line in e.problems:
                click.echo(f"error: {line}", err=True)
            raise SystemExit(2) from None
        for line in config_mod.warnings(cfg):
            click.echo(f"warning: {line}", err=True)
        return cfg


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config", "config_path", type=SafePath(dir_okay=False, path_type=Path), default=None,
    help="Configuration file (default: $FAILOVER_CONFIG, then config/local.yaml).",
)
@click.option("--json", "as_json", is_flag=True, help="Print data as JSON.")
@click.option(
    "--log-level", default="info", show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
)
@click.version_option(__version__, prog_name="failover")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, as_json: bool, log_level: str) -> None:
    """High-availability ENI failover controller for Alibaba Cloud ECS."""
    logs.setup(log_level)
    ctx.obj = CliState(config_path or config_mod.default_path(), as_json, log_level)


def state(ctx: click.Context) -> CliState:
    """The global options, also when a subcommand repeats --config or --json."""
    obj = ctx.find_object(CliState)
    assert obj is not None
    return obj


def config_option(f: click.decorators.FC) -> click.decorators.FC:
    """`--config` and `--json` accepted after the subcommand too, as operators type them."""

    def set_config(ctx: click.Context, _p: click.Parameter, value: Path | None) -> None:
        if value is not None:
            state(ctx).config_path = value

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
