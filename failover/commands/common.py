"""What the operator commands share: opening a session, printing, exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from failover import app, logs
from failover.commands.context import CliState
from failover.config import Config, ConfigError
from failover.model import JournalCorrupt, NotLeader


def fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


@contextmanager
def open_client(st: CliState, cfg: Config | None = None) -> Iterator[app.Client]:
    """A ZooKeeper session for one command; unreachable is exit 1, misconfigured exit 2."""
    cfg = cfg or st.load_config()
    logs.quiet_for_one_shot(st.log_level)
    try:
        with app.client(cfg) as c:
            yield c
    except ConfigError as e:
        for line in e.problems:
            click.echo(f"error: {line}", err=True)
        raise SystemExit(2) from None
    except JournalCorrupt as e:  # a znode the command needs holds garbage: say which, and the way out
        fail(f"{e}; see `failover journal inspect` and `failover journal reset`")
    except NotLeader as e:  # ZooKeeper unreachable or the session lost mid-command
        msg = str(e)
        fail(msg if cfg.zookeeper.hosts in msg else f"zookeeper ({cfg.zookeeper.hosts}): {msg}")
    except ValueError as e:  # a malformed credential, named by its variable, never its value
        fail(str(e), 2)


def open_cloud(cfg: Config) -> app.CommandCloud:
    """The cloud adapter for one command; a credential or proxy problem is exit 2."""
    try:
        return app.open_cloud(cfg)
    except ConfigError as e:
        for line in e.problems:
            click.echo(f"error: {line}", err=True)
        raise SystemExit(2) from None


def where(cfg: Config) -> str:
    """The cloud a command talks to, for its error lines."""
    return f"region {cfg.cloud.region}" + (f", endpoint {cfg.cloud.endpoint}" if cfg.cloud.endpoint else "")


def emit_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=1, default=str))


def is_tty() -> bool:
    return sys.stdout.isatty()


def known_group(cfg: Config, name: str) -> None:
    if name not in {g.name for g in cfg.groups}:
        known = ", ".join(g.name for g in cfg.groups) or "none"
        fail(f"GROUP: unknown group {name!r} (known: {known})", 2)
