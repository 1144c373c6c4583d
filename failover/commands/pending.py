"""Commands of the CLI contract whose implementation has not landed yet.

Each says so and exits 1, so scripts never mistake a placeholder for success.
"""

from __future__ import annotations

import click


def _pending(name: str, issue: str) -> click.Command:
    @click.command(name=name, context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def cmd(args: tuple[str, ...]) -> None:
        click.echo(f"failover {name}: not built yet ({issue})", err=True)
        raise SystemExit(1)

    cmd.help = f"(not built yet: {issue})"
    return cmd


run = _pending("run", "engine issue")
status = _pending("status", "engine issue")
drill = _pending("drill", "engine issue")
history = _pending("history", "engine issue")
ack = _pending("ack", "engine issue")
journal = _pending("journal", "engine issue")
provision = _pending("provision", "standby readiness issue")
guest = _pending("guest", "guest issue")
sim = _pending("sim", "emulator issue")
lab = _pending("lab", "lab issue")
demo = _pending("demo", "lab issue")
