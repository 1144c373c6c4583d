"""`failover run`: one controller replica until SIGTERM; SIGHUP reloads the config."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import click

from failover import app, heap, metrics
from failover import config as config_mod
from failover.commands.context import config_option, state
from failover.config import Config, ConfigError
from failover.engine.guest_check import GUEST_PATHS
from failover.model import NotLeader, Result, Trigger

log = logging.getLogger("failover.run")


@click.command()
@config_option
@click.option("--grace", default=30.0, show_default=True, type=click.FloatRange(0, 600),
              help="Seconds a running failover may take to finish its steps on SIGTERM.")
@click.pass_context
def run(ctx: click.Context, grace: float) -> None:
    """Run a controller replica until SIGTERM (clean exit 0)."""
    st = state(ctx)
    cfg = st.load_config()
    try:
        replica = app.Replica(cfg)
    except ConfigError as e:
        for line in e.problems:
            click.echo(f"error: {line}", err=True)
        raise SystemExit(2) from None
    except NotLeader as e:
        click.echo(f"error: zookeeper ({cfg.zookeeper.hosts}): {e}", err=True)
        raise SystemExit(1) from None
    except ValueError as e:
        click.echo(f"error: {e}", err=True)
        raise SystemExit(2) from None

    stop, reload = threading.Event(), threading.Event()

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    def on_hup(signum: int, _frame: FrameType | None) -> None:
        reload.set()

    metrics.record_config_reload(True)
    _export_config(cfg)
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
    heap.pace()
    replica.start()
    freezer = heap.Freezer()
    try:
        while not stop.wait(0.2):
            freezer.poll()
            if reload.is_set():
                reload.clear()
                _reload(replica, st.config_path)
    finally:
        replica.stop(grace)
    log.info("stopped cleanly")


def _reload(replica: app.Replica, path: object) -> None:
    try:
        cfg = config_mod.load(str(path))
    except ConfigError as e:
        log.error("reload refused; keeping the running config", extra={"problems": e.problems})
        metrics.record_config_reload(False)
        return
    metrics.record_config_reload(True)
    _export_config(cfg)
    needs_restart = replica.reload(cfg)
    if needs_restart:
        log.warning("reloaded groups; changes to these sections need a restart",
                    extra={"sections": needs_restart})
    else:
        log.info("config reloaded", extra={"groups": len(cfg.groups)})


def _export_config(cfg: Config) -> None:
    """The series a configuration defines: failover, guest-path and stop-notice counters at 0,
    pause alert thresholds."""
    metrics.set_pause_alert_after({g.name: g.policy.pause_alert_after_s for g in cfg.groups})
    finished = [r.value for r in Result if r is not Result.RUNNING]
    metrics.expose_failovers([g.name for g in cfg.groups], finished, [t.value for t in Trigger])
    metrics.expose_guest_paths([g.name for g in cfg.groups], GUEST_PATHS)
    metrics.expose_stop_notices()
