"""`failover demo` (what `make demo` runs): the product locally, narrated, torn down at the end."""

from __future__ import annotations

import os
import shutil
import signal
from types import FrameType

import click

NEEDS = {"java": "default-jre-headless", "ip": "iproute2"}


@click.command()
@click.option("--keep", is_flag=True, help="Leave the lab running at the end.")
def demo(keep: bool) -> None:
    """Run the product locally: a lab, two controllers, a crash, a failover, a drill back."""
    if os.geteuid() != 0:
        click.echo("error: the demo builds network namespaces: run it as root (sudo make demo)", err=True)
        raise SystemExit(1)
    missing = [pkg for tool, pkg in NEEDS.items() if shutil.which(tool) is None]
    if missing or not os.path.exists("/usr/share/java/zookeeper.jar"):
        click.echo(f"error: missing packages: apt-get install -y zookeeper {' '.join(missing)}", err=True)
        raise SystemExit(1)
    from failover.lab import netns
    from failover.lab.demo import Demo
    from failover.lab.runtime import Lab

    def on_term(_sig: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    lab = Lab()
    code = 0
    try:
        result = Demo(lab, click.echo).run()
        if result.get("rto_s") is None:
            code = 1
    except KeyboardInterrupt:
        click.echo("\ninterrupted", err=True)
        code = 130
    except netns.LabError as e:
        click.echo(f"error: {e}", err=True)
        code = 1
    finally:
        if keep:
            click.echo(f"== lab {lab.prefix} left running: "
                       f"`failover lab down --prefix {lab.prefix}` removes it")
        else:
            click.echo("== 6. Tearing the lab down (namespaces, processes, files)")
            lab.down()
            click.echo("   nothing left behind. Next: README.md, `failover lab bench`, runbooks/.")
    raise SystemExit(code)
