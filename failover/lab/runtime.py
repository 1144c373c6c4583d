"""A running lab: brings up the namespaces and every process in them, and reaches into them.

`Lab.up()` builds the topology, then starts ZooKeeper and the emulator (with the lab hooks)
in the control namespace, the HTTP service in every instance namespace and one controller
replica in each management namespace. The orchestrator itself stays in the root namespace
and only *starts* processes in the lab's: status, drills and the emulator's control API are
reached through short-lived processes run inside a lab namespace.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from failover.lab import netns, render, topology
from failover.lab.spec import CONTROL_IP, SIM_PORT, ZK_PORT, LabSpec, Member, new_prefix

PY = sys.executable
FAILOVER = [PY, "-m", "failover"]  # the product, always as a separate process
ZK_CMD = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-cp",
          "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar",
          "org.apache.zookeeper.server.quorum.QuorumPeerMain"]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


class Lab:
    def __init__(self, prefix: str | None = None, health: dict[str, Any] | None = None,
                 api_latency_s: float = 0.0) -> None:
        self.spec = LabSpec(prefix or new_prefix())
        self.dir = Path(self.spec.run_dir)
        self.health = health or render.default_health()
        self.policy: dict[str, Any] = {}  # overrides of render.controller_config's lab policy
        self.cloud: dict[str, Any] = {}  # and of its cloud section
        self.guest: dict[str, Any] = {}  # and of its guest defaults (guest.prestage)
        self.status_interval_s: float | None = None  # the ecs_status check's own cadence
        self.api_latency_s = api_latency_s
        self._key_id = "LTAI" + secrets.token_hex(8)
        self._secret = secrets.token_urlsafe(24)

    @property
    def prefix(self) -> str:
        return self.spec.prefix

    # ------------------------------------------------------------ bring up

    def up(self, controllers: bool = True) -> None:
        topology.build(self.spec)
        self._write_files()
        self.start_zookeeper()
        self.start_emulator()
        for m in self.spec.members:
            self.start_service(m)
        self.wait_zookeeper()
        self.wait_emulator()
        if controllers:
            for c in self.spec.controllers:
                self.start_controller(c.controller_id)

    def _write_files(self) -> None:
        world = render.world(self.spec, self._key_id, self._secret, self.api_latency_s)
        _write_private(self.dir / "world.yaml", yaml.safe_dump(world, sort_keys=False))
        self._write_controller_configs()
        (self.dir / "zk" / "data").mkdir(parents=True, exist_ok=True)
        (self.dir / "zk" / "zoo.cfg").write_text(render.zoo_cfg(str(self.dir / "zk" / "data")))

    def _write_controller_configs(self) -> None:
        for c in self.spec.controllers:
            cfg = render.controller_config(self.spec, c.controller_id, self.health, self.policy,
                                           self.cloud, status_interval_s=self.status_interval_s,
                                           guest=self.guest)
            (self.dir / f"{c.controller_id}.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))

    def restart_controllers(self, health: dict[str, Any] | None = None,
                            policy: dict[str, Any] | None = None,
                            cloud: dict[str, Any] | None = None,
                            status_interval_s: float | None = None,
                            guest: dict[str, Any] | None = None) -> None:
        """Every replica stopped (gracefully: leadership is released at once) and started again
        with new health settings or policy or cloud overrides; the ENI stays where it is.
        The ecs_status check keeps the health interval unless `status_interval_s` is given."""
        self.status_interval_s = status_interval_s
        if health is not None:
            self.health = health
        if policy is not None:
            self.policy = policy
        if cloud is not None:
            self.cloud = cloud
        if guest is not None:
            self.guest = guest
        self._write_controller_configs()
        pids = [pid for c in self.spec.controllers if (pid := self.pid(c.controller_id))]
        netns.stop_pids(pids, grace_s=10.0)
        for c in self.spec.controllers:
            self.start_controller(c.controller_id)

    def restart_with_guest(self, guest: dict[str, Any], health: dict[str, Any] | None = None,
                           policy: dict[str, Any] | None = None, cloud: dict[str, Any] | None = None,
                           status_interval_s: float | None = None) -> None:
        """`restart_controllers` with `guest`, the members' staged configuration made to match
        it: unstaged without one (an earlier staging's triggers would configure the NIC), else
        staged by `provision --restage` (the tags an earlier staging left say "staged" after an
        unstage; provision reads the config the restart wrote) and every replica restarted once
        more: they read the members' key tags when they start (then every minute only)."""
        if not guest:
            self.sim("unstage", {})
        self.restart_controllers(health=health, policy=policy, cloud=cloud,
                                 status_interval_s=status_interval_s, guest=guest)
        if guest:
            self.failover_cli("provision", "--yes", "--restage", timeout_s=120, check=True)
            self.restart_controllers(status_interval_s=status_interval_s)

    def _spawn(self, name: str, ns: str, argv: list[str], env: dict[str, str] | None = None,
               cwd: str | None = None) -> int:
        proc = netns.spawn(ns, argv, self.dir / f"{name}.log", env=child_env(env), cwd=cwd)
        topology.record_pid(self.prefix, name, proc.pid)
        return proc.pid

    def start_zookeeper(self) -> None:
        zk_dir = self.dir / "zk"
        self._spawn("zookeeper", self.spec.control_ns, [*ZK_CMD, str(zk_dir / "zoo.cfg")], cwd=str(zk_dir))

    def start_emulator(self) -> None:
        self._spawn("emulator", self.spec.control_ns, [
            *FAILOVER, "sim", "ecs", "--listen", f"{CONTROL_IP}:{SIM_PORT}",
            "--world", str(self.dir / "world.yaml"), "--hooks", "failover.lab.hooks:from_env",
        ], env={"FAILOVER_LAB_PREFIX": self.prefix})

    def start_service(self, m: Member, service_ip: str | None = None) -> None:
        ip = service_ip or self.spec.eni.service_ip
        self._spawn(f"service-{m.instance_id}", self.spec.ns(m.role), [
            PY, "-m", "failover.lab.service", "--id", m.instance_id, "--bind", ip, "--bind", m.ip,
        ])

    def start_controller(self, controller_id: str) -> None:
        c = self.spec.controller(controller_id)
        self._spawn(controller_id, self.spec.ns(c.role), [
            *FAILOVER, "--log-level", "info", "run", "--config", self.config_path(controller_id),
        ], env=self._keys())

    def _keys(self) -> dict[str, str]:
        return {render.KEY_ID_ENV: self._key_id, render.KEY_SECRET_ENV: self._secret}

    def config_path(self, controller_id: str | None = None) -> str:
        return str(self.dir / f"{controller_id or self.spec.controllers[0].controller_id}.yaml")

    def pid(self, name: str) -> int | None:
        pid = topology.read_state(self.prefix).get("pids", {}).get(name)
        return pid if isinstance(pid, int) and netns.alive(pid) else None

    # ------------------------------------------------------------ waiting

    def wait_zookeeper(self, timeout_s: float = 30.0) -> None:
        self._wait(lambda: "Mode:" in self.probe(self.spec.control_ns, "tcp", f"{CONTROL_IP}:{ZK_PORT}",
                                                  "--word", "srvr"), "zookeeper", timeout_s)

    def wait_emulator(self, timeout_s: float = 20.0) -> None:
        self._wait(lambda: '"ok"' in self.probe(self.spec.control_ns, "http", self._sim_url("health")),
                   "emulator", timeout_s)

    def _wait(self, ready: Callable[[], bool], name: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ready():
                return
            if self.pid(name) is None:
                raise netns.LabError(f"{name} exited: {self.log_tail(name)}")
            time.sleep(0.2)
        raise netns.LabError(f"{name} not ready within {timeout_s:g}s: {self.log_tail(name)}")

    def log_tail(self, name: str, chars: int = 1500) -> str:
        try:
            return (self.dir / f"{name}.log").read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    # ------------------------------------------------------------ reaching in

    def probe(self, ns: str, *args: str) -> str:
        p = subprocess.run(netns.in_ns(ns, [PY, "-m", "failover.lab.probe", *args]), capture_output=True,
                           text=True, timeout=15, env=child_env(), check=False)
        return p.stdout if p.returncode == 0 else ""

    def _sim_url(self, path: str) -> str:
        return f"http://{CONTROL_IP}:{SIM_PORT}/_sim/{path}"

    def sim(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """The emulator's control API (`/_sim/...`), from inside the control namespace."""
        args = ["http", self._sim_url(path)] + (["--post", json.dumps(body)] if body is not None else [])
        out = self.probe(self.spec.control_ns, *args)
        try:
            data = json.loads(out) if out else {}
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def failover_cli(self, *args: str, controller_id: str | None = None, timeout_s: float = 60.0,
                     check: bool = False) -> subprocess.CompletedProcess[str]:
        """`failover ARGS --config <lab config>` inside a controller's namespace."""
        cid = controller_id or self.spec.controllers[0].controller_id
        ns = self.spec.ns(self.spec.controller(cid).role)
        argv = netns.in_ns(ns, [*FAILOVER, *args, "--config", self.config_path(cid)])
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False,
                           env=child_env(self._keys()))
        if check and p.returncode != 0:
            raise netns.LabError(f"failover {' '.join(args)}: exit {p.returncode}: {p.stderr[-800:]}")
        return p

    def cli_json(self, *args: str, controller_id: str | None = None) -> Any:
        p = self.failover_cli(*args, "--json", controller_id=controller_id)
        try:
            return json.loads(p.stdout)
        except ValueError:
            return None

    def holder(self) -> str | None:
        """Which instance namespace holds the ENI now (the kernel's truth, not the API's)."""
        for m in self.spec.members:
            out = netns.ip(self.spec.ns(m.role), "-o", "link", "show", check=False)
            if f"link/ether {self.spec.eni.mac}" in out:
                return m.instance_id
        return None

    # ------------------------------------------------------------ teardown

    def down(self) -> list[str]:
        return topology.destroy(self.prefix)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
