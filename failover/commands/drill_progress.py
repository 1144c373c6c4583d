"""How `failover drill` shows a drill while it runs: a live step view on a terminal, lines elsewhere.

On a TTY (and without --json) a rich Live table redraws in place: the request, the failover
id, one row per step with its status and time, a spinner on the step that runs and the
elapsed time. Off a terminal (a pipe, a log, CI) each change is one plain line, and --json
prints one JSON event per line: both unchanged from before the live view existed.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

import click
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from failover.records import FailoverRecord

_STYLE = {"ok": "green", "skipped": "dim", "failed": "bold red", "running": "yellow"}


class Progress(Protocol):
    def __enter__(self) -> Progress: ...

    def __exit__(self, *exc: object) -> None: ...

    def event(self, name: str, **fields: Any) -> None:
        """`requested` (request, group) or `started` (failover)."""

    def record(self, record: FailoverRecord) -> None:
        """The journal's record as last read (the steps so far)."""


class Lines:
    """One line (or, with --json, one JSON document) per event and per step change."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self._seen: dict[str, str] = {}

    def __enter__(self) -> Lines:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def event(self, name: str, **fields: Any) -> None:
        self._emit({"event": name, **fields})

    def record(self, record: FailoverRecord) -> None:
        for s in record.steps:
            if self._seen.get(s.name.value) != s.status:
                self._seen[s.name.value] = s.status
                self._emit({"event": "step", **s.to_dict()})

    def _emit(self, doc: dict[str, Any]) -> None:
        if self.as_json:
            click.echo(json.dumps(doc, default=str))
        elif doc["event"] == "step":
            d = doc.get("duration_s")
            dur = f" {d:.3f} s" if isinstance(d, float) else ""
            click.echo(f"  {doc['name']:<7} {doc['status']}{dur}")
        else:
            click.echo(f"{doc['event']}: " + ", ".join(f"{k}={v}" for k, v in doc.items() if k != "event"))


class LiveView:
    """A table redrawn in place while the drill runs; left on screen as its last frame."""

    def __init__(self, group: str, console: Console | None = None) -> None:
        self.group = group
        # chosen only on a terminal (progress_for): draw as one even where rich would guess not
        self.console = console or Console(highlight=False, force_terminal=True)
        self._t0 = time.monotonic()
        self._lines: list[str] = []
        self._record: FailoverRecord | None = None
        self._live = Live(console=self.console, refresh_per_second=8, transient=False,
                          get_renderable=self._render)

    def __enter__(self) -> LiveView:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()

    def event(self, name: str, **fields: Any) -> None:
        self._lines.append(f"{name}: " + ", ".join(f"{k}={v}" for k, v in fields.items()))
        self._live.refresh()

    def record(self, record: FailoverRecord) -> None:
        self._record = record
        self._live.refresh()

    def _render(self) -> RenderableType:
        rec = self._record
        title = f"drill {self.group}"
        if rec is not None:
            title += f": {rec.from_instance or 'nothing'} -> {rec.to_instance}"
        table = Table(expand=False)
        for col in ("step", "status", "time"):
            table.add_column(col, justify="right" if col == "time" else "left")
        for s in rec.steps if rec is not None else ():
            busy = s.status == "running" or s.duration_s is None
            status: RenderableType = (Spinner("dots", text=Text(s.status, style=_STYLE["running"]))
                                      if busy and not (rec and rec.finished)
                                      else Text(s.status, style=_STYLE.get(s.status, "")))
            table.add_row(s.name.value, status, "" if s.duration_s is None else f"{s.duration_s:.3f} s")
        elapsed = Text(f"{time.monotonic() - self._t0:.1f} s elapsed", style="dim")
        if rec is not None and rec.finished:
            done = rec.result.value == "completed"
            elapsed = Text(rec.result.value, style=_STYLE["ok" if done else "failed"])
        return Group(*(Text(line, style="dim") for line in self._lines), Text(title, style="bold"),
                     table, elapsed)


def progress_for(group: str, as_json: bool, tty: bool) -> Progress:
    return LiveView(group) if tty and not as_json else Lines(as_json)
