"""Worlds with one knowable failover precondition (a standby's readiness) broken each, configs
for them, the CLI in-process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result

from failover.cli import main
from harness.sim import MANAGED, SimServer, small_world
from harness.zk import free_port


def world(*instances: dict[str, Any], enis: tuple[dict[str, Any], ...] = (),
          eips: tuple[dict[str, Any], ...] = (), **standby: Any) -> dict[str, Any]:
    """The small world plus `i-far` (another zone), with the standby's keys overridden."""
    w = small_world()
    far = {"id": "i-far", "vswitch": "vsw-b", "status": "Running", "type": "ecs.g7.large",
           "primary_ip": "192.168.2.20", "max_enis": 3, "max_ips_per_eni": 10, "hotplug": True,
           "tags": MANAGED}
    w["instances"] += [far, *instances]
    w["instances"][1].update(standby)
    w["network_interfaces"] += list(enis)
    w["eips"] += list(eips)
    return w


def write_config(path: Path, endpoint: str, **group: Any) -> Path:
    g = {"name": "web", "network_interface": "eni-svc", "members": ["i-primary", "i-standby"],
         "service_ips": ["192.168.1.51"], "eips": ["47.100.0.1"], "checks": [{"type": "tcp", "port": 80}]}
    g.update(group)
    doc = {
        "cloud": {"region": "cn-hangzhou", "endpoint": endpoint, "protocol": "http",
                  "connect_timeout_s": 0.5, "read_timeout_s": 2.0, "api_rate_per_s": 200, "api_burst": 200,
                  "credentials": {"access_key_id_env": "SIM_AK", "access_key_secret_env": "SIM_SECRET"}},
        "groups": [g],
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def closed_endpoint() -> str:
    return f"127.0.0.1:{free_port()}"  # nothing listens there


def cli(sim: SimServer | None, config: Path, *args: str) -> Result:
    env = {"SIM_AK": sim.access_key_id if sim else "AKIDEXAMPLE",
           "SIM_SECRET": sim.access_key_secret if sim else "SECRETEXAMPLE"}
    return CliRunner().invoke(main, ["--config", str(config), *args], env=env)


def cloud_state(sim: SimServer) -> dict[str, Any]:
    """What provisioning could change: every instance, ENI and EIP."""
    st = sim.control.state()
    return {k: st[k] for k in ("instances", "enis", "eips")}
