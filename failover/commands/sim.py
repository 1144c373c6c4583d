"""`failover sim ecs`: the ECS/VPC API emulator as a process, stopped cleanly by SIGTERM."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from failover.commands.context import SafePath
from failover.sim.hooks import HookLoadError, Hooks, load_hooks
from failover.sim.server import Emulator
from failover.sim.world_file import WorldError, read_world_file


def _usage(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(2)


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        _usage(f"--listen: expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


@click.group()
def sim() -> None:
    """Emulators of the cloud, for drills and tests."""


@sim.command()
@click.option("--listen", default="127.0.0.1:18765", show_default=True, help="HOST:PORT to serve on.")
@click.option(
    "--world",
    "world_path",
    required=True,
    type=SafePath(path_type=Path),
    help="World file (YAML): resources, access keys, timing.",
)
@click.option(
    "--state-file",
    type=SafePath(dir_okay=False, path_type=Path),
    default=None,
    help="Persist the state here (atomically) and resume from it on restart.",
)
@click.option("--hooks", "hooks_spec", default=None, help="module:factory returning the lab's hooks.")
def ecs(listen: str, world_path: Path, state_file: Path | None, hooks_spec: str | None) -> None:
    """Serve the ECS 2014-05-26 and VPC 2016-04-28 APIs (plus /_sim/ control) until SIGTERM."""
    host, port = parse_listen(listen)
    try:
        world = read_world_file(world_path)
    except WorldError as e:
        _usage(f"--world: {e}")
    hooks: Hooks | None = None
    if hooks_spec:
        try:
            hooks = load_hooks(hooks_spec)
        except HookLoadError as e:
            _usage(str(e))
    if state_file is not None and not state_file.parent.is_dir():
        _usage(f"--state-file: directory {state_file.parent} does not exist")
    try:
        emu = Emulator(world, host, port, hooks=hooks, state_file=state_file)
    except OSError as e:
        click.echo(f"error: --listen: cannot listen on {listen}: {e.strerror}", err=True)
        raise SystemExit(1) from None
    except (ValueError, KeyError) as e:
        _usage(f"--state-file: cannot resume from {state_file}: {e}")
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    emu.start()
    click.echo(json.dumps({"listening": emu.endpoint, "world": str(world_path)}), nl=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        emu.stop()
    click.echo(json.dumps({"stopped": emu.endpoint}))
