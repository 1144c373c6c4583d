"""`failover lab up / down / bench`: the network-namespace lab and its RTO benchmark (needs root)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from failover.commands.context import SafePath, config_option, state


def _need_root() -> None:
    if os.geteuid() != 0:
        click.echo("error: the lab creates network namespaces: run it as root", err=True)
        raise SystemExit(1)


def _prefix(value: str | None) -> str | None:
    if value is None:
        return None
    from failover.lab.spec import check_prefix

    try:
        return check_prefix(value)
    except ValueError as e:
        raise click.UsageError(str(e)) from None


@click.group()
def lab() -> None:
    """The network-namespace lab: real traffic, real failover (needs root)."""


@lab.command()
@config_option
@click.option("--prefix", default=None, help="Name prefix (flab + 4 hex digits); default: a new one.")
@click.option("--no-controllers", is_flag=True, help="Network, ZooKeeper, emulator, services only.")
@click.pass_context
def up(ctx: click.Context, prefix: str | None, no_controllers: bool) -> None:
    """Bring a lab up and leave it running; prints its prefix."""
    _need_root()
    from failover.lab import netns
    from failover.lab.runtime import Lab

    lab_ = Lab(_prefix(prefix))
    try:
        lab_.up(controllers=not no_controllers)
    except (netns.LabError, OSError) as e:
        lab_.down()
        click.echo(f"error: lab up failed (removed again): {e}", err=True)
        raise SystemExit(1) from None
    info = {"prefix": lab_.prefix, "namespaces": lab_.spec.namespaces, "run_dir": str(lab_.dir),
            "service_ip": lab_.spec.eni.service_ip, "client_namespace": lab_.spec.client_ns,
            "controller_configs": [lab_.config_path(c.controller_id) for c in lab_.spec.controllers]}
    if state(ctx).json:
        click.echo(json.dumps(info, indent=1))
        return
    click.echo(f"lab {lab_.prefix} is up ({len(info['namespaces'])} namespaces, files in {lab_.dir})")
    click.echo(f"  try: ip netns exec {lab_.spec.client_ns} curl -s http://{lab_.spec.eni.service_ip}/")
    click.echo(f"  remove: failover lab down --prefix {lab_.prefix}")


@lab.command()
@click.option("--prefix", default=None, help="Only this lab (default: every lab on this machine).")
def down(prefix: str | None) -> None:
    """Remove a lab (or all): processes, namespaces, links, files. Safe to repeat."""
    _need_root()
    from failover.lab import topology

    prefixes = [p] if (p := _prefix(prefix)) else topology.known_prefixes()
    for pfx in prefixes:
        removed = topology.destroy(pfx)
        click.echo(f"lab {pfx}: removed {len(removed)} namespaces")
    if not prefixes:
        click.echo("no lab to remove")


@lab.command()
@config_option
@click.option("--runs", default=10, show_default=True, type=click.IntRange(1, 100), help="Trials per mode.")
@click.option("--modes", default="crash,hang,stop,partition", show_default=True, help="Failure modes.")
@click.option("--no-keepalived", is_flag=True, help="Only the controller.")
@click.option("--out", "out_dir", type=SafePath(file_okay=False, path_type=Path),
              default=Path("benchmarks/results"), show_default=True, help="Where rto.json and the PNG go.")
@click.option("--keep", is_flag=True, help="Leave the lab up afterwards.")
@click.option("--parts", "parts_csv", default="rto,window,noise,realistic,stability", show_default=True,
              help="rto: product defaults vs keepalived defaults; window: equal detection windows at "
                   "0.5 s and 0.2 s; noise: false failovers under loss and CPU hogs at each of those "
                   "settings; realistic: RTO under cloud-like API timing, several seeds; stability: "
                   "each new holder watched after a failover (src/dst check, metric-100 routes).")
@click.option("--noise-s", type=click.FloatRange(5, 3600), default=600, show_default=True,
              help="How long the noise part lasts.")
@click.option("--loss", type=click.FloatRange(0, 0.5), default=0.05, show_default=True,
              help="Share of packets dropped entering and leaving each instance (noise part).")
@click.option("--realistic-runs", type=click.IntRange(1, 100), default=10, show_default=True,
              help="Crash failovers under realistic timing, per seed.")
@click.option("--realistic-seeds", type=click.IntRange(1, 20), default=3, show_default=True,
              help="Realistic part: how many seeds (--seed, --seed + 1, ...).")
@click.option("--smoke", is_flag=True, help="Mark the JSON as a smoke run (few trials): not the figures.")
@click.option("--time-scale", type=click.FloatRange(0.01, 10), default=1.0, show_default=True,
              help="Realistic part: every emulated duration times this.")
@click.option("--seed", type=int, default=1, show_default=True, help="Realistic part: the draws' seed.")
@click.option("--stability-trials", type=click.IntRange(1, 100), default=10, show_default=True,
              help="Stability part: failovers, each followed by a watch.")
@click.option("--stability-watch-s", type=click.FloatRange(5, 3600), default=60, show_default=True,
              help="Stability part: how long each new holder is watched.")
@click.option("--old-guest-routes", is_flag=True,
              help="Stability part with the guest script's earlier route handling (a metric-0 prefix "
                   "route via the ENI): the 'before'; written to stability_before.json.")
@click.pass_context
def bench(ctx: click.Context, runs: int, modes: str, no_keepalived: bool,
          out_dir: Path, keep: bool, parts_csv: str, noise_s: float, loss: float, realistic_runs: int,
          realistic_seeds: int, smoke: bool, time_scale: float, seed: int, stability_trials: int,
          stability_watch_s: float, old_guest_routes: bool) -> None:
    """Measure RTO per failure mode, ours and keepalived's, side by side in one run."""
    _need_root()
    from failover.lab import netns, suite
    from failover.lab.bench import PARTS, BenchOptions
    from failover.lab.sides import MODES

    wanted = tuple(m.strip() for m in modes.split(",") if m.strip())
    bad = [m for m in wanted if m not in MODES]
    if bad or not wanted:
        raise click.UsageError(f"--modes: unknown mode {bad[0] if bad else '(none)'}; use {', '.join(MODES)}")
    parts = tuple(p.strip() for p in parts_csv.split(",") if p.strip())
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise click.UsageError(f"--parts: unknown part {bad[0] if bad else '(none)'}; use {', '.join(PARTS)}")
    if old_guest_routes and parts != ("stability",):
        raise click.UsageError("--old-guest-routes: the 'before' run takes --parts stability alone")
    as_json = state(ctx).json
    opts = BenchOptions(runs=runs, modes=wanted, keepalived=not no_keepalived,
                        out_dir=out_dir, parts=parts, noise_s=noise_s, loss=loss,
                        realistic_runs=realistic_runs, time_scale=time_scale, seed=seed,
                        realistic_seeds=realistic_seeds, stability_trials=stability_trials,
                        stability_watch_s=stability_watch_s, old_guest_routes=old_guest_routes)

    def say(line: str) -> None:
        click.echo(line, err=as_json)

    try:
        result = suite.run_bench(opts, say, keep=keep)
    except netns.LabError as e:
        click.echo(f"error: bench failed: {e}", err=True)
        raise SystemExit(1) from None
    result["command"] = "failover lab bench " + " ".join(sys.argv[sys.argv.index("bench") + 1:]
                                                         if "bench" in sys.argv else [])
    result["smoke"] = smoke
    path = suite.write(result, out_dir)
    if as_json:
        click.echo(json.dumps(result, indent=1))
    else:
        for line in [*suite.table(result), *suite.parts_table(result)]:
            click.echo(line)
        click.echo(f"(median/p90) written to {path}; chart: {result.get('chart', '-')}")
        click.echo("the README's table: .venv/bin/python benchmarks/report.py --write")
    sys.stdout.flush()
