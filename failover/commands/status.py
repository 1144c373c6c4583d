"""`failover status`: a table (default, `-o wide`), or the contract's document (`-o json`,
`--json`, `-o yaml`); `--watch` repeats it until Ctrl-C.

The document is built once (`app.Client.status`); every output format renders that dict, so
the table never says something the JSON does not.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table

from failover.commands.common import emit_json, is_tty, open_client
from failover.commands.context import config_option, state
from failover.engine.status import readiness_lines

FORMATS = ("table", "wide", "json", "yaml")
# States an operator must look at; coloured on a terminal.
_STYLE = {"healthy": "green", "degraded": "yellow", "paused": "yellow", "failing_over": "cyan",
          "blocked": "red", "down": "bold red", "unserved": "bold red", "corrupt": "bold red",
          "unknown": "bold red"}


def _up(value: bool | None) -> str:
    return {True: "up", False: "DOWN", None: "?"}[value]


def _votes(votes: dict[str, bool]) -> str:
    return " ".join(f"{c}={'up' if v else 'down'}" for c, v in sorted(votes.items())) or "-"


def _members(g: dict[str, Any]) -> str:
    return ", ".join(f"{m['instance']}{'*' if m['holder'] else ''} {_up(m['up'])}" for m in g["members"])


def _last(g: dict[str, Any]) -> str:
    last = g["last_failover"]
    if not last:
        return "-"
    dur = f"{last['duration_s']:.2f}s" if last["duration_s"] is not None else "running"
    return f"{last['from']} -> {last['to']} {last['result']} {dur}"


def _note(g: dict[str, Any]) -> str:
    notes = []
    if g.get("unserved_reason"):
        notes.append(f"not served: {g['unserved_reason']}")
    if g.get("paused_since") is not None:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(g["paused_since"]))
        notes.append(f"paused since {since} (failover resume {g['name']})")
    if g.get("blocked_reason"):
        notes.append(f"blocked: {g['blocked_reason']} (failover ack {g['name']})")
    if g.get("error"):
        notes.append(f"error: {g['error']}")
    return "; ".join(notes)


def render_table(doc: dict[str, Any], *, wide: bool, console: Console) -> None:
    leader = doc["leader"] or "NONE"
    ctls = ", ".join(c["id"] + ("*" if c["leader"] else "") for c in doc["controllers"]) or "none"
    console.print(f"leader: {leader}   controllers: {ctls}", highlight=False)
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("GROUP", "STATE", "HOLDER", "MEMBERS (* holder)", "LAST FAILOVER"):
        table.add_column(col, no_wrap=True)
    if wide:
        table.add_column("VOTES", no_wrap=True)
        table.add_column("STANDBY READINESS")
    table.add_column("NOTE")
    for g in doc["groups"]:
        row = [g["name"], f"[{_STYLE.get(g['state'], '')}]{g['state']}[/]" if g["state"] in _STYLE
               else g["state"], g["holder"] or "NONE", _members(g), _last(g)]
        if wide:
            votes = "; ".join(f"{m['instance']}: {_votes(m['votes'])}" for m in g["members"])
            row += [votes, " ".join(line.strip() for line in readiness_lines(g)) or "-"]
        row.append(_note(g))
        table.add_row(*row)
    console.print(table)


def render(doc: dict[str, Any], fmt: str, console: Console) -> None:
    if fmt == "json":
        emit_json(doc)
    elif fmt == "yaml":
        click.echo(yaml.safe_dump(json.loads(json.dumps(doc, default=str)), sort_keys=False), nl=False)
    else:
        render_table(doc, wide=fmt == "wide", console=console)


@click.command()
@config_option
@click.option("-o", "--output", "fmt", type=click.Choice(FORMATS), default=None,
              help="table (default), wide (votes and standby readiness), json (as --json), yaml.")
@click.option("-w", "--watch", is_flag=True, help="Print it again every --interval seconds until Ctrl-C.")
@click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="Seconds between two --watch rounds.")
@click.pass_context
def status(ctx: click.Context, fmt: str | None, watch: bool, interval: float) -> None:
    """Leader, each group's holder, health and last failover."""
    st = state(ctx)
    fmt = fmt or ("json" if st.json else "table")
    tty = is_tty()
    # Off a terminal (a pipe, a file, a test) nothing is cut to 80 columns.
    console = Console(highlight=False, soft_wrap=not tty, width=None if tty else 250,
                      no_color=not tty)
    with open_client(st) as c:
        if not watch:
            render(c.status(), fmt, console)
            return
        try:
            while True:
                doc = c.status()
                if tty and fmt in ("table", "wide"):
                    console.clear()
                if fmt == "json":
                    click.echo(json.dumps(doc, default=str))  # one document per line (JSON lines)
                else:
                    render(doc, fmt, console)
                    if fmt == "yaml":
                        click.echo("---")
                time.sleep(interval)
        except KeyboardInterrupt:  # the way out of --watch, not an error
            return
