"""The `failover` command: the top floor, nothing imports it.

Commands load lazily (`LazyGroup`) so `failover validate` does not pay for
importing kazoo and the cloud SDK. Each family lives in `failover/commands/`.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import click

from failover import __version__, logs
from failover import config as config_mod
from failover.commands.context import CliState, SafePath

# name -> "module:attribute" of a click command
COMMANDS: dict[str, str] = {
    "validate": "failover.commands.validate:validate",
    "config": "failover.commands.schema:config",
    "run": "failover.commands.run:run",
    "status": "failover.commands.status:status",
    "pause": "failover.commands.maintenance:pause",
    "resume": "failover.commands.maintenance:resume",
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


# The test rig's commands and the packages they run: a separate distribution (failover-rig),
# absent from a production install and image.
RIG_PACKAGES = ("failover.sim", "failover.lab")
RIG_COMMANDS = frozenset({"sim", "lab", "demo"})


def rig_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in RIG_PACKAGES)


def rig_missing(name: str) -> click.Command:
    """What `failover sim|lab|demo` is where the rig is not installed: one error line, exit 1,
    whatever the arguments."""

    def fail() -> None:
        click.echo(f"error: `failover {name}` needs the test rig (the emulator and the lab), which this "
                   "install does not carry: install the failover-rig distribution (rig/ in the "
                   "repository) or run from a source checkout (make venv)", err=True)
        raise SystemExit(1)

    return click.Command(name, callback=fail, add_help_option=False, help="(not installed: the test rig)",
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})


LOG_LEVEL = click.Choice(["debug", "info", "warning", "error"], case_sensitive=False)


def _set_log_level(ctx: click.Context, _p: click.Parameter, value: str | None) -> None:
    if value is not None:
        obj = ctx.find_object(CliState)
        if obj is not None:
            obj.log_level = value
        logs.setup(value)


def with_global_options(cmd: click.Command) -> click.Command:
    """`--log-level` accepted after the subcommand too (--config and --json come with
    `config_option`), on every leaf command of a group as well; added once per command."""
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            with_global_options(sub)
    elif not any(p.name == "log_level_after" for p in cmd.params):
        cmd.params.append(click.Option(["--log-level", "log_level_after"], type=LOG_LEVEL,
                                       expose_value=False, callback=_set_log_level,
                                       help="As the global --log-level."))
    return cmd


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        if cmd_name in RIG_COMMANDS and not rig_installed():
            return rig_missing(cmd_name)
        module, attr = target.split(":")
        cmd = getattr(importlib.import_module(module), attr)
        assert isinstance(cmd, click.Command)
        return with_global_options(cmd)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config", "config_path", type=SafePath(dir_okay=False, path_type=Path), default=None,
    help="Configuration file (default: $FAILOVER_CONFIG, /etc/failover/config.yaml, then "
         "./config/local.yaml).",
)
@click.option("--json", "as_json", is_flag=True, help="Print data as JSON.")
@click.option("--log-level", type=LOG_LEVEL, default=None,
              help="debug, info (default), warning, error; also $FAILOVER_LOG_LEVEL.")
@click.version_option(__version__, prog_name="failover")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, as_json: bool, log_level: str | None) -> None:
    """High-availability ENI failover controller for Alibaba Cloud ECS.

    Global options (--config, --json, --log-level) go before or after the subcommand.
    """
    level = log_level or logs.env_level()
    if level not in LOG_LEVEL.choices:
        raise click.UsageError(f"$FAILOVER_LOG_LEVEL: {level!r} is not one of {', '.join(LOG_LEVEL.choices)}")
    logs.setup(level)
    ctx.obj = CliState(config_path or config_mod.default_path(), as_json, level,
                       config_given=config_path is not None)
